"""The delivery path's pools plan generically (``shared.db.GENERIC_PLANS``), and keep
doing so on every connection the pool hands out again after its reset on release; a pool
whose settings are not in effect (a pooler dropped them) says so at startup."""

from __future__ import annotations

from structlog.testing import capture_logs

from shared.db import GENERIC_PLANS, create_pool, unapplied_settings


async def test_generic_plans_survive_the_reset_on_release(migrated_database: str) -> None:
    async with create_pool(migrated_database, min_size=1, max_size=1, server_settings=GENERIC_PLANS) as pool:
        for _ in range(2):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
                await conn.execute("SET plan_cache_mode = auto")  # undone by the reset on release


async def test_other_pools_keep_the_servers_default(migrated_database: str) -> None:
    async with create_pool(migrated_database, min_size=1, max_size=1) as pool:
        assert await pool.fetchval("SHOW plan_cache_mode") == "auto"


async def test_settings_not_in_effect_are_named(migrated_database: str) -> None:
    async with create_pool(migrated_database, min_size=1, max_size=1) as plain:
        assert await unapplied_settings(plain, GENERIC_PLANS) == {"plan_cache_mode": "auto"}
    with capture_logs() as logs:
        async with create_pool(
            migrated_database, min_size=1, max_size=1, server_settings=GENERIC_PLANS
        ) as pool:
            assert await unapplied_settings(pool, GENERIC_PLANS) == {}
    assert [e for e in logs if e["log_level"] == "warning"] == []


async def test_a_pool_warns_when_its_settings_are_not_in_effect(migrated_database: str) -> None:
    # PostgreSQL cuts application_name to 63 bytes: asked for, and not what is in effect
    wanted = {**GENERIC_PLANS, "application_name": "x" * 80}
    with capture_logs() as logs:
        async with create_pool(migrated_database, min_size=1, max_size=1, server_settings=wanted):
            pass
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["unapplied"] == {"application_name": "x" * 63}
