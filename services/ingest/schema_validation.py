"""Event-type schemas as payload validators: the pure part, no I/O.

An event type's ``schemas`` is Svix's ``{"<version>": <JSON Schema>, ...}``. A message
names no version, so an enforced event type validates against its newest one (the
highest numeric key). Schemas are compiled by ``jsonschema_rs`` (Rust; the draft comes
from ``$schema``, 2020-12 when absent) once per distinct schema text: a reload that
finds the same schema reuses the compiled validator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson

# jsonschema_rs quotes the failing value in its message: a 1 MiB string would be echoed
# whole into the 422, the rejected queue's header and the logs. The pointer says where.
MESSAGE_MAX_CHARS = 300


class InvalidSchema(ValueError):
    """A schema ``jsonschema_rs`` cannot compile (its message says why)."""


@dataclass(frozen=True)
class Violation:
    pointer: str  # RFC 6901 JSON pointer into the payload ("" is the payload itself)
    path: tuple[str, ...]  # the same, as the parts Svix's ``loc`` lists
    message: str


@dataclass(frozen=True)
class CompiledSchema:
    event_type: str
    version: str
    validator: Any  # a jsonschema_rs validator

    def first_violation(self, payload: object) -> Violation | None:
        # is_valid stops at the first failure without building errors: the common case.
        if self.validator.is_valid(payload):
            return None
        error = next(iter(self.validator.iter_errors(payload)))
        parts = tuple(str(p) for p in error.instance_path)
        message = error.message
        if len(message) > MESSAGE_MAX_CHARS:
            message = message[: MESSAGE_MAX_CHARS - 1] + "…"
        return Violation(json_pointer(parts), parts, message)


def json_pointer(parts: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _version_key(version: str) -> tuple[int, int | str]:
    # Numeric versions by value ("10" after "9"), then any others by text.
    return (1, int(version)) if version.isdigit() else (0, version)


def newest_version(schemas: dict[str, Any] | None) -> tuple[str, Any] | None:
    if not schemas:
        return None
    version = max(schemas, key=_version_key)
    return version, schemas[version]


def _no_remote_refs(uri: str) -> Any:
    # jsonschema_rs fetches a remote $ref over HTTP by default: from ingest, that is a
    # request to wherever a schema author points (the SSRF guard only covers deliveries).
    raise ValueError(f"remote $ref {uri} is not fetched; put the schema under $defs")


def compile_schema(schema: Any) -> Any:
    if not isinstance(schema, dict | bool):
        raise InvalidSchema("a JSON Schema is an object or a boolean")
    try:
        return jsonschema_rs.validator_for(schema, retriever=_no_remote_refs)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise InvalidSchema(str(exc)) from exc


def check_schemas(schemas: dict[str, Any] | None) -> None:
    """Every version must compile; raises InvalidSchema naming the first that doesn't."""
    for version, schema in (schemas or {}).items():
        try:
            compile_schema(schema)
        except InvalidSchema as exc:
            raise InvalidSchema(f"schemas.{version}: {exc}") from exc


class ValidatorCache:
    """Compiled validators keyed by the schema's canonical text, so an unchanged
    schema is never compiled twice; entries for schemas no longer in use are dropped
    at each ``rebuild``."""

    def __init__(self) -> None:
        self._compiled: dict[bytes, Any] = {}

    def rebuild(self, rows: list[tuple[str, dict[str, Any] | None]]) -> dict[str, CompiledSchema]:
        """The enforced event types (name, schemas) as validators of their newest version.
        A type with no schema or one that does not compile is left out (not enforced)."""
        compiled: dict[bytes, Any] = {}
        enforced: dict[str, CompiledSchema] = {}
        for name, schemas in rows:
            newest = newest_version(schemas)
            if newest is None:
                continue
            version, schema = newest
            key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
            validator = compiled.get(key) or self._compiled.get(key)
            if validator is None:
                try:
                    validator = compile_schema(schema)
                except InvalidSchema:
                    continue
            compiled[key] = validator
            enforced[name] = CompiledSchema(name, version, validator)
        self._compiled = compiled
        return enforced

    @property
    def compiled_count(self) -> int:
        return len(self._compiled)
