-- The message's event type on each attempt row (services/dispatcher/attempt_rows.py), so that
-- an endpoint's attempts filtered by event type are filtered on the attempt rows alone. The
-- join to the message probed every daily partition for each attempt scanned, because a
-- message id names no partition: 95 ms p99 in `make bench-history` against a 50 ms goal.
-- Rows written before this migration have none and are filtered through the message, as
-- before (services/ingest/api/attempts.py): no backfill rewrites the table.
ALTER TABLE message_attempt ADD COLUMN event_type text;
