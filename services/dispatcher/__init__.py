"""The dispatcher: consumes delivery tasks, POSTs signed webhooks, retries and records attempts."""
