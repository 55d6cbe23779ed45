-- Event-type schemas enforced at message create (issue 19). Hookline's own extension to
-- Svix's event type: with enforce_schema, a payload that does not match the event
-- type's newest schema version is refused with a 422 (HTTP) or sent to the rejected
-- queue (AMQP). A boolean with a constant default: no table rewrite.
ALTER TABLE event_type ADD COLUMN enforce_schema boolean NOT NULL DEFAULT false;

-- Ingest processes cache the enforced schemas; every change is announced so the cache
-- reloads within a round trip (a periodic reload is the safety net).
CREATE FUNCTION notify_event_type_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('hookline_event_type', COALESCE(NEW.name, OLD.name));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_type_changed
    AFTER INSERT OR UPDATE OR DELETE ON event_type
    FOR EACH ROW EXECUTE FUNCTION notify_event_type_change();
