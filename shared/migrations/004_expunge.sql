-- Payload expunge (Svix: DELETE /api/v1/app/{app}/msg/{msg}/content, bulk-expunge,
-- expunge-all-contents). An expunged message stays listed; its payload column then holds
-- what Svix answers for a message without content, {"expired":true}, and this column
-- tells the dashboard (and resend, which refuses it) that it is no longer the original.
-- A nullable column without a default: no table rewrite, instant on a full table.
ALTER TABLE message ADD COLUMN expunged_at timestamptz;

-- Endpoint secrets, old secrets, header values, verifier source secrets and stored
-- idempotent answers are sealed by the services' key ring from now on (shared/keyring.py).
-- SQL cannot seal (the keys never reach the database), so rows written before this
-- version are sealed by `python -m shared.rekey`; until then the services read them as is.
