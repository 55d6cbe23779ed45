"""The one order in which statements lock several ``message_destination`` rows.

Ingest's published-flag batches, the dispatcher's outcome batches, and the API's recover,
replay, resend and expunge all update overlapping destination rows. Two statements that
lock overlapping rows in different orders deadlock: PostgreSQL waits its
deadlock_timeout (1 s), stalling both, then rolls one back. Seen: 10 deadlocks in a few
minutes at 1,200 messages/s once the tables had statistics (nested loops lock in their
input's order, not the heap's; 2026-12-04, docs/performance.md). So each of them selects
its rows with ``LOCK_IN_KEY_ORDER`` in a MATERIALIZED CTE and updates what it locked.

Not covered: deleting an endpoint or an application cascades to its destinations in the
delete's own order (rare; a deadlock there fails the delete, or the batch retries).
"""

LOCK_IN_KEY_ORDER = "ORDER BY d.msg_id, d.endpoint_id FOR UPDATE OF d"
