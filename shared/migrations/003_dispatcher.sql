-- Dispatcher: the shared clock of each throttled endpoint (throttleRate), so that all
-- dispatcher processes of one installation together send at most that rate.
-- next_slot is the earliest unix time (seconds, PostgreSQL's clock) the next POST
-- may start: a GCRA / virtual-scheduling limiter with no burst allowance.

CREATE TABLE endpoint_throttle (
    endpoint_id  text PRIMARY KEY REFERENCES endpoint (id) ON DELETE CASCADE,
    next_slot    double precision NOT NULL
);
