"""Operational endpoints belong to the installation, which the tests of one run share
(one database): a test that makes some removes them before and after itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.operational import OPERATIONAL_APP_ID


async def forget_operational_endpoints(pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM endpoint WHERE app_id = $1", OPERATIONAL_APP_ID)
    await pool.execute("DELETE FROM message WHERE app_id = $1", OPERATIONAL_APP_ID)


@pytest.fixture
async def installation_wide(db_pool: asyncpg.Pool) -> AsyncIterator[None]:
    await forget_operational_endpoints(db_pool)
    yield
    await forget_operational_endpoints(db_pool)
