-- Operational webhooks (Svix: /api/v1/operational-webhook/endpoint): events about the
-- installation itself (endpoint.created, message.attempt.exhausted, ...) sent to the
-- operator's endpoints. As in Svix, where they are the endpoints of an application in an
-- internal organisation, they are the endpoints of one internal application: its
-- messages, destinations and attempts are ordinary rows, so the dispatcher delivers,
-- signs, retries and logs them like any other (docs/operational-webhooks.md).
-- The application is installation-wide and hidden from the application API
-- (shared/operational.py holds its id).
INSERT INTO application (id, uid, name)
VALUES ('app_hookline_operational', NULL, 'Hookline operational webhooks')
ON CONFLICT (id) DO NOTHING;
