"""How big the chaos run is. ``make test`` and ``make chaos`` both run it at the size
issue 8 names, 5,000 messages per fault scenario (about 5 minutes on the 2-core machine);
``HOOKLINE_CHAOS_MESSAGES=300`` gives a quick run while working on the suite (see
docs/chaos.md)."""

from __future__ import annotations

import os

# Messages per fault scenario; each goes to 2 of the 20 endpoints.
ISSUE_MESSAGES = 5000
MESSAGES = int(os.environ.get("HOOKLINE_CHAOS_MESSAGES", ISSUE_MESSAGES))
ENDPOINTS = 20
# The load is paced over this long, so that faults land in the middle of it.
LOAD_SECONDS = max(12.0, MESSAGES / 150)

# 8 attempts: with at most 2 failures per delivery from the receivers, a message that
# is not delivered in the end was lost by Hookline, not by bad luck.
RETRY_SCHEDULE = "1s,1s,2s,2s,2s,3s,3s"
RETRY_TOTAL_SECONDS = 14.0

# AMQP ingest abuse: malformed messages published in one go.
MALFORMED_AMQP_MESSAGES = 1000

# Schemathesis: test cases per API operation, and whether its stateful phase (chains
# of create/read/update/delete following the document's links) runs too.
FULL_SIZE = MESSAGES >= ISSUE_MESSAGES
SCHEMA_EXAMPLES = 50 if FULL_SIZE else 10
SCHEMA_PHASES = "examples,coverage,fuzzing" + (",stateful" if FULL_SIZE else "")
