"""Hookline's one settings class, shared by every service.

Loaded once from the environment (prefix ``HOOKLINE_``). Defaults work on a developer
machine; ``HOOKLINE_ENV=prod`` refuses to start with a default or missing secret.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AmqpDsn, Field, PostgresDsn, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.keyring import KeyRing

DEV_API_TOKEN = "hookline-dev-token"
DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Parse ``500ms``, ``5s``, ``5m``, ``2h``, ``1d`` (or bare seconds) into seconds."""
    raw = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if raw.endswith(unit) and raw[: -len(unit)].replace(".", "", 1).isdigit():
            return float(raw[: -len(unit)]) * _UNITS[unit]
    if raw.replace(".", "", 1).isdigit():
        return float(raw)
    raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 5s, 5m, 2h, 1d)")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _nameserver(text: str) -> str:
    """``host[:port]`` as c-ares takes it (``ip:port``, ``[ipv6]:port``); a clear error else."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or port
    elif host.count(":") == 1:
        host, port = host.split(":")
    address = ipaddress.ip_address(host)  # raises a clear ValueError
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a nameserver port: {text!r}")
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused setting's error would otherwise echo the input,
    # truncated but with the tail of the API token or of a key of the ring in it.
    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore", hide_input_in_errors=True)

    env: Literal["dev", "prod"] = "dev"
    database_url: PostgresDsn = PostgresDsn("postgresql://postgres@127.0.0.1:5432/hookline")
    amqp_url: AmqpDsn = AmqpDsn("amqp://guest:guest@127.0.0.1:5672/")
    # Other nodes of the same RabbitMQ cluster, a comma list of URLs: a service whose node
    # stays unreachable tries the next (shared/amqp.py). Not needed behind a Kubernetes
    # Service, which already sends each connection to a live node.
    amqp_failover_urls: Annotated[list[AmqpDsn], NoDecode] = []
    amqp_prefix: str = Field("hookline", pattern=r"^[A-Za-z0-9_\-]+$")
    api_token: str = DEV_API_TOKEN
    # Key ring for secrets at rest, newest first: "k2:<base64 32 bytes>,k1:<...>" (the first
    # encrypts, all decrypt; docs/operations.md). Unset in dev: a built-in dev key is used.
    encryption_keys: SecretStr | None = None

    ingest_host: str = "0.0.0.0"
    ingest_port: int = 8000
    dispatcher_port: int = 8001
    verifier_port: int = 8002

    max_payload_bytes: int = Field(1024 * 1024, gt=0)
    # Seconds a client has to send a whole request body (408 after that).
    body_read_timeout: float = Field(30.0, gt=0)
    # When set, /metrics on every service wants "Authorization: Bearer <token>" (401
    # otherwise); unset, /metrics is open as before. A SecretStr: never shown in a repr.
    metrics_token: SecretStr | None = None
    # How often ingest recounts the gauges a scrape shows (outbox backlog, queue depths):
    # a scrape only renders, so scraping often costs the database and broker nothing.
    metrics_refresh_seconds: float = Field(15.0, gt=0)
    allowed_target_cidrs: Annotated[list[str], NoDecode] = []

    db_pool_min: int = 2
    db_pool_max: int = 10
    # How long an HTTP create waits for the broker's confirm before answering anyway:
    # the destination rows are committed, so the outbox relay publishes them later.
    publish_confirm_timeout: float = 5.0
    # Destinations committed but unconfirmed for this long are republished by the relay.
    outbox_grace_seconds: float = 10.0
    outbox_poll_seconds: float = 2.0
    idempotency_ttl_hours: int = 24
    # History (messages, destinations, attempts) lives in daily partitions: a day is
    # dropped once all of it is older than retention_days (Svix keeps payloads 90 days),
    # and partitions are made premake_days ahead. Ingest checks every retention_interval
    # (also when payloads with payloadRetention* expire): see services/ingest/retention.py.
    retention_days: int = Field(90, ge=1)
    partition_premake_days: int = Field(7, ge=1)
    retention_interval: float = Field(600.0, gt=0)
    ingest_prefetch: int = 256
    # Enforced event-type schemas are cached by ingest and reloaded on every change
    # (LISTEN/NOTIFY); this periodic reload is the safety net behind it.
    schema_refresh_seconds: float = Field(30.0, gt=0)

    retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [parse_duration(p) for p in DEFAULT_RETRY_SCHEDULE.split(",")]
    )
    dispatcher_prefetch: int = 200
    dispatcher_workers: int = 1
    delivery_timeout: float = 15.0
    connect_timeout: float = 5.0
    egress_proxy: str | None = None
    # What a receiver's answer may be (services/dispatcher/http1/response.py). Past either
    # head cap the attempt fails ("response head too large", "too many response headers");
    # past the body cap the connection is closed, the first 4 KiB kept as the answer.
    response_head_max_bytes: int = Field(64 * 1024, gt=0)
    response_header_max_count: int = Field(100, gt=0)
    response_body_max_bytes: int = Field(64 * 1024, gt=0)
    disable_after: Annotated[float, NoDecode] = 5 * 86400.0
    drain_seconds: float = 20.0
    # A delivery task redelivered this many times without settling goes to the dead queue.
    poison_deliveries: int = Field(10, ge=1)

    # Nameservers for deliveries' DNS, a comma list of host[:port] (IP addresses);
    # empty: the system's (/etc/resolv.conf). Each lookup ends within dns_timeout seconds.
    dns_servers: Annotated[list[str], NoDecode] = []
    dns_timeout: float = Field(3.0, gt=0)

    @field_validator("dns_servers", mode="before")
    @classmethod
    def _nameservers(cls, value: object) -> object:
        items = _split_csv(value)
        return [_nameserver(item) for item in items] if isinstance(items, list) else items

    log_level: str = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    # Delivery tasks spread over this many dispatch queues (shared/topology.py; docs/scaling.md).
    dispatch_shards: int = Field(1, ge=1, le=64)
    # How this process writes delivery tasks (shared/tasks.py): "packed", one header; "named",
    # the seven headers versions before 2026-12-04 read. Every version since reads both: set
    # "named" while older dispatchers still run beside newer ones (docs/operations.md).
    task_headers: Literal["packed", "named"] = "packed"
    # OTLP/HTTP collector base URL (http://collector:4318): traces on; unset, off and free.
    otel_endpoint: str | None = None

    @field_validator("amqp_failover_urls", mode="before")
    @classmethod
    def _failover_urls(cls, value: object) -> object:
        return _split_csv(value)

    def amqp_urls(self) -> list[str]:
        """The broker's URLs in the order a service tries them: ``amqp_url`` first."""
        return [str(self.amqp_url), *(str(url) for url in self.amqp_failover_urls)]

    @field_validator("allowed_target_cidrs", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> object:
        items = _split_csv(value)
        for item in items or []:
            ipaddress.ip_network(item, strict=False)  # raises a clear ValueError
        return items

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("encryption_keys", mode="after")
    @classmethod
    def _key_ring(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        KeyRing.parse(value.get_secret_value())  # a clear error that never echoes a key
        return value

    def key_ring(self) -> KeyRing | None:
        """The configured key ring; None when none is set (dev)."""
        return KeyRing.parse(self.encryption_keys.get_secret_value()) if self.encryption_keys else None

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        items = _split_csv(value)
        if isinstance(items, list):
            return [parse_duration(i) if isinstance(i, str) else float(i) for i in items]
        return items

    @field_validator("disable_after", mode="before")
    @classmethod
    def _disable_after(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env != "prod":
            return self
        problems = []
        if not self.api_token or self.api_token == DEV_API_TOKEN or len(self.api_token) < 24:
            problems.append("HOOKLINE_API_TOKEN must be set to a random value of 24+ characters")
        if self.encryption_keys is None:
            problems.append(
                "HOOKLINE_ENCRYPTION_KEYS must be set (id:base64 of 32 random bytes, newest first,"
                " e.g. k1:$(head -c32 /dev/urandom | base64)) to encrypt secrets at rest"
            )
        if any(url.password in (None, "guest") for url in [self.amqp_url, *self.amqp_failover_urls]):
            problems.append("HOOKLINE_AMQP_URL must not use the default guest credentials")
        if any(ipaddress.ip_network(c, strict=False).is_loopback for c in self.allowed_target_cidrs):
            problems.append("HOOKLINE_ALLOWED_TARGET_CIDRS must not allow loopback in prod")
        if problems:
            raise ValueError("refusing to start with HOOKLINE_ENV=prod: " + "; ".join(problems))
        return self

    def dsn(self) -> str:
        return str(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
