-- Circuit-breaker state shared by every dispatcher process (services/dispatcher/
-- circuit_shared.py): a row while an endpoint's circuit is open. Whichever process sees
-- the endpoint fail HOOKLINE_DISPATCHER_CIRCUIT_FAILURES times in a row opens it for all;
-- when the cool-down ends, the one process whose UPDATE claims probe_until sends the
-- single probe; its success deletes the row, its failure opens the circuit again.
-- Processes keep a mirror in memory, fed by NOTIFY: nothing is read per delivery.
CREATE TABLE endpoint_circuit (
    endpoint_id  text PRIMARY KEY REFERENCES endpoint (id) ON DELETE CASCADE,
    open_until   timestamptz NOT NULL,
    probe_until  timestamptz,
    opened_at    timestamptz NOT NULL DEFAULT now()
);

-- "<endpoint id> <seconds still open>" or "<endpoint id> closed". A claim of the probe
-- (an update of probe_until alone) announces nothing.
CREATE FUNCTION endpoint_circuit_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('hookline_circuit', OLD.endpoint_id || ' closed');
        RETURN OLD;
    END IF;
    PERFORM pg_notify('hookline_circuit',
        NEW.endpoint_id || ' ' || greatest(0, extract(epoch FROM NEW.open_until - now()))::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER endpoint_circuit_changed
    AFTER INSERT OR UPDATE OF open_until OR DELETE ON endpoint_circuit
    FOR EACH ROW EXECUTE FUNCTION endpoint_circuit_notify();
