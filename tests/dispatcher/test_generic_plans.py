"""The delivery path's pools plan generically (``shared.db.GENERIC_PLANS``), and keep
doing so on every connection the pool hands out again after its reset on release."""

from __future__ import annotations

from shared.db import GENERIC_PLANS, create_pool


async def test_generic_plans_survive_the_reset_on_release(migrated_database: str) -> None:
    async with create_pool(migrated_database, min_size=1, max_size=1, server_settings=GENERIC_PLANS) as pool:
        for _ in range(2):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
                await conn.execute("SET plan_cache_mode = auto")  # undone by the reset on release


async def test_other_pools_keep_the_servers_default(migrated_database: str) -> None:
    async with create_pool(migrated_database, min_size=1, max_size=1) as pool:
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"
