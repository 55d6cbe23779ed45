"""The endpoint form: what was typed, checked with the API's own model and SSRF rule.

A failed check re-renders the form with everything as typed and one plain sentence
per field. Credential headers (``Authorization`` and the like) are never shown back:
the form lists them by name and keeps them unless they are replaced or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multidict import MultiDictProxy
from pydantic import ValidationError

from services.ingest.api.endpoints import SENSITIVE_HEADERS
from services.ingest.models.endpoints import EndpointIn
from shared.target_policy import Network, TargetRefused, check_target

FIELDS = ("url", "description", "event_types", "channels", "throttle_rate", "headers")
_SLUG_WORDS = "use only letters, digits, '-', '_' and '.'"
_PLAIN = {
    ("event_types", "string_pattern_mismatch"): f"An event type name is not valid: {_SLUG_WORDS}.",
    ("channels", "string_pattern_mismatch"): f"A channel name is not valid: {_SLUG_WORDS}.",
    ("channels", "too_long"): "At most 10 channels.",
    ("throttle_rate", "greater_than_equal"): "The throttle rate must be at least 1 message per second.",
    ("throttle_rate", "less_than_equal"): "The throttle rate can be at most 65535 messages per second.",
    ("throttle_rate", "int_parsing"): "The throttle rate must be a whole number of messages per second.",
    ("url", "string_too_short"): "Enter the URL webhooks should be sent to.",
    ("description", "string_too_long"): "The description is longer than 4096 characters.",
}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def is_sensitive(name: str) -> bool:
    return name.lower() in SENSITIVE_HEADERS


@dataclass
class EndpointForm:
    url: str = ""
    description: str = ""
    event_types: list[str] = field(default_factory=list)  # ticked names and typed ones
    other_event_types: str = ""
    channels: str = ""
    throttle_rate: str = ""
    headers: str = ""  # "Name: value" lines, credential headers left out
    hidden_headers: dict[str, str] = field(default_factory=dict)  # kept as they are
    remove_hidden: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_endpoint(cls, row: Any) -> EndpointForm:
        headers = dict(row["headers"])
        return cls(
            url=row["url"],
            description=row["description"],
            event_types=list(row["event_types"] or []),
            channels=", ".join(row["channels"] or []),
            throttle_rate="" if row["throttle_rate"] is None else str(row["throttle_rate"]),
            headers="\n".join(f"{k}: {v}" for k, v in headers.items() if not is_sensitive(k)),
            hidden_headers={k: v for k, v in headers.items() if is_sensitive(k)},
        )

    @classmethod
    def from_post(cls, form: MultiDictProxy[Any], hidden_headers: dict[str, str]) -> EndpointForm:
        def text(name: str) -> str:
            value = form.get(name, "")
            return value.strip() if isinstance(value, str) else ""

        return cls(
            url=text("url"),
            description=text("description"),
            event_types=[v for v in form.getall("event_types", []) if isinstance(v, str)],
            other_event_types=text("other_event_types"),
            channels=text("channels"),
            throttle_rate=text("throttle_rate"),
            headers=form.get("headers", "") if isinstance(form.get("headers"), str) else "",
            hidden_headers=hidden_headers,
            remove_hidden=[v for v in form.getall("remove_headers", []) if isinstance(v, str)],
        )

    def _headers(self) -> dict[str, str]:
        kept = {k: v for k, v in self.hidden_headers.items() if k not in self.remove_hidden}
        typed: dict[str, str] = {}
        for number, line in enumerate(self.headers.splitlines(), start=1):
            if not line.strip():
                continue
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise ValueError(f"Line {number} of the headers should look like 'Name: value'.")
            typed[name.strip()] = value.strip()
        replaced = {k.lower() for k in typed}
        return {**{k: v for k, v in kept.items() if k.lower() not in replaced}, **typed}

    def values(self) -> dict[str, Any] | None:
        """The checked endpoint fields, or None with ``errors`` filled in."""
        self.errors = {}
        try:
            headers = self._headers()
        except ValueError as exc:
            self.errors["headers"] = str(exc)
            headers = {}
        event_types = sorted({*self.event_types, *_split(self.other_event_types)})
        data = {
            "url": self.url,
            "description": self.description,
            "event_types": event_types or None,
            "channels": _split(self.channels) or None,
            "throttle_rate": self.throttle_rate or None,
            "headers": headers,
        }
        try:
            model = EndpointIn.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                name = str(err["loc"][0])
                plain = _PLAIN.get((name, err["type"])) or err["msg"].removeprefix("Value error, ")
                self.errors.setdefault(name, plain[0].upper() + plain[1:])
            return None
        if self.errors:
            return None
        return model.model_dump(include=set(FIELDS))

    async def check_target(self, allowed: tuple[Network, ...]) -> bool:
        """The API's SSRF rule at configuration time (delivery checks again after DNS)."""
        try:
            await check_target(self.url, allowed, unresolvable_ok=True)
        except TargetRefused as exc:
            self.errors["url"] = f"This URL can't receive webhooks: {exc}."
            return False
        return True
