"""Open circuits, as the dispatcher reports them.

Circuits are installation-wide (``services/dispatcher/circuit_shared.py``, table
``endpoint_circuit``) and every dispatcher process mirrors all of them; what they show
outside is the gauge ``hookline_circuit_open_endpoints`` on the dispatcher's ``/metrics``:
how many endpoints, not which ones, the same whichever process answers. The overview
shows that number, or says it can't be read.
"""

from __future__ import annotations

import aiohttp
import structlog
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from services.ingest.ui.cached import Cached

log = structlog.get_logger()
GAUGE = "hookline_circuit_open_endpoints"


def open_circuits_in(metrics_text: str) -> int | None:
    """The gauge's value (summed over labelled series), or None when it is absent."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name == GAUGE:
            return int(sum(sample.value for sample in family.samples))
    return None


class CircuitReport:
    def __init__(self, metrics_url: str, *, cache_seconds: float, token: SecretStr | None = None) -> None:
        self.url = metrics_url
        # HOOKLINE_METRICS_TOKEN guards the dispatcher's /metrics as well as ingest's.
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._cached = Cached(self._read, cache_seconds)

    async def open_circuits(self, *, fresh: bool = False) -> int | None:
        """Endpoints with an open circuit, or None while the dispatcher can't be asked."""
        return await self._cached.get(fresh=fresh)

    async def _read(self) -> int | None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.5))
        try:
            async with self._session.get(self.url, headers=self._headers) as response:
                response.raise_for_status()
                return open_circuits_in(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.info("dispatcher metrics unavailable", url=self.url, error=repr(exc))
            return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
