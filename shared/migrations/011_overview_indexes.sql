-- The dashboard overview's "waiting" figures count destinations that are pending or
-- sending, or not yet confirmed on the broker. Unpublished rows had a partial index;
-- pending and sending ones did not, so the count read every destination of the
-- retention period (4 million rows in `make bench-history`: see docs/performance.md).
-- A partial index holds only the rows still in flight: small, and cheap to keep.
-- (On a partitioned table an index cannot be built CONCURRENTLY; this one reads each
-- partition once while the migration holds its lock.)
CREATE INDEX destination_in_flight_idx ON message_destination (status)
    WHERE status IN (1, 3);
