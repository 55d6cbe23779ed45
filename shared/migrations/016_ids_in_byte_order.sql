-- Every column holding a Hookline id compares in byte order (collation "C"), whatever the
-- database's default collation.
--
-- Ids are a prefix and a base62 KSUID (shared/ids.py) whose byte order is creation order:
-- lists and their cursors (`ORDER BY id`, `id < $1`), the before/after filters
-- (`boundary_id`) and an ordered endpoint's lane (message_destination by msg_id) rely on
-- it. A database created with a linguistic collation (en_US.UTF-8 is the default of
-- many servers and images) sorts 'a' before 'B', so listings came out of creation order
-- and an ordered endpoint's messages could be sent out of it. With "C", PostgreSQL also
-- compares ids with memcmp instead of strcoll (docs/performance.md).
--
-- One-off cost on an existing installation: every index on these columns is rebuilt
-- (the rows are not rewritten: same type, only the collation changes), under an
-- ACCESS EXCLUSIVE lock on each table until the migration commits.
-- tests/ingest/test_id_collation.py checks no id column is left out, now or by a later migration.
ALTER TABLE application
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE endpoint
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE endpoint_circuit ALTER COLUMN endpoint_id TYPE text COLLATE "C";
ALTER TABLE endpoint_lane ALTER COLUMN endpoint_id TYPE text COLLATE "C";
ALTER TABLE endpoint_throttle ALTER COLUMN endpoint_id TYPE text COLLATE "C";
ALTER TABLE message
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE message_destination
    ALTER COLUMN msg_id TYPE text COLLATE "C",
    ALTER COLUMN endpoint_id TYPE text COLLATE "C",
    ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE message_attempt
    ALTER COLUMN id TYPE text COLLATE "C",
    ALTER COLUMN msg_id TYPE text COLLATE "C",
    ALTER COLUMN endpoint_id TYPE text COLLATE "C",
    ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE message_event_id
    ALTER COLUMN msg_id TYPE text COLLATE "C",
    ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE app_portal_token ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE background_task ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE inbound_source ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE inbound_seen ALTER COLUMN source_id TYPE text COLLATE "C";
