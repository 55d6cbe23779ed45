async def test_database_is_migrated(db_pool):
    tables = {r["tablename"] for r in await db_pool.fetch("SELECT tablename FROM pg_tables")}
    assert {
        "application",
        "endpoint",
        "message",
        "message_destination",
        "message_attempt",
    } <= tables
