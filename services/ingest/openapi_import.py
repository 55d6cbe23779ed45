"""Event types from the ``webhooks`` of an OpenAPI 3.1 document: the pure part.

Each webhook's key is the event type's name; its ``post`` operation gives the
description (``description``, else ``summary``), ``deprecated``, Svix's
``x-svix-group-name`` and ``x-svix-feature-flags``, and the JSON request body's schema
becomes version ``"1"`` of ``schemas``. References into ``#/components/schemas`` are
kept as references: the components they reach (transitively) are copied under the
schema's ``$defs`` and the ``$ref``s pointed there, so recursive types stay valid.
Examples of the media type (``example``, ``examples.*.value``) join the schema's
``examples``, which ``send-example`` sends.
"""

from __future__ import annotations

from typing import Any

import yaml

from services.ingest.models.event_types import EventTypeFromOpenApi

_COMPONENTS = "#/components/schemas/"
_DEFS = "#/$defs/"


class InvalidSpec(ValueError):
    pass


def parse_spec(spec: dict[str, Any] | None, spec_raw: str | None) -> dict[str, Any]:
    if (spec is None) == (spec_raw is None):
        raise InvalidSpec("send exactly one of spec and specRaw")
    if spec is None:
        try:
            spec = yaml.safe_load(spec_raw or "")  # YAML 1.2 is a superset of JSON
        except yaml.YAMLError as exc:
            raise InvalidSpec(f"specRaw is neither YAML nor JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise InvalidSpec("the OpenAPI document must be an object")
    return spec


def _refs_to_defs(node: Any, found: set[str]) -> Any:
    if isinstance(node, dict):
        out = {k: _refs_to_defs(v, found) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMPONENTS):
            found.add(ref[len(_COMPONENTS) :])
            out["$ref"] = _DEFS + ref[len(_COMPONENTS) :]
        return out
    if isinstance(node, list):
        return [_refs_to_defs(v, found) for v in node]
    return node


def _self_contained(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    found: set[str] = set()
    out = _refs_to_defs(schema, found)
    defs: dict[str, Any] = {}
    pending = set(found)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        if name not in components:
            raise InvalidSpec(f"$ref to a missing component: {_COMPONENTS}{name}")
        more: set[str] = set()
        defs[name] = _refs_to_defs(components[name], more)
        pending |= more - defs.keys()
    if defs:
        out["$defs"] = {**_obj(out, "$defs"), **defs}
    return out


def _examples(media: dict[str, Any]) -> list[Any]:
    examples = [media["example"]] if "example" in media else []
    for example in _obj(media, "examples").values():
        if isinstance(example, dict) and "value" in example:
            examples.append(example["value"])
    return examples


def _obj(node: Any, key: str) -> dict[str, Any]:
    """``node[key]`` when both are objects, else ``{}``: a document of the wrong shape
    imports nothing from that branch instead of failing on it."""
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, dict) else {}


def event_types_of(spec: dict[str, Any]) -> list[EventTypeFromOpenApi]:
    components = _obj(_obj(spec, "components"), "schemas")
    out = []
    for name, item in sorted(_obj(spec, "webhooks").items(), key=lambda kv: str(kv[0])):
        operation = _obj(item, "post")
        if not operation:
            continue
        media = _obj(_obj(_obj(operation, "requestBody"), "content"), "application/json")
        schemas = None
        if isinstance(media.get("schema"), dict):
            schema = _self_contained(media["schema"], components)
            if examples := _examples(media):
                listed = schema.get("examples")
                schema["examples"] = [*(listed if isinstance(listed, list) else []), *examples]
            schemas = {"1": schema}
        out.append(
            EventTypeFromOpenApi(
                name=str(name),
                description=operation.get("description") or operation.get("summary") or "",
                schemas=schemas,
                deprecated=bool(operation.get("deprecated", False)),
                group_name=operation.get("x-svix-group-name"),
                feature_flags=operation.get("x-svix-feature-flags"),
            )
        )
    return out
