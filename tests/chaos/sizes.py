"""How big the chaos run is. ``make test`` runs a reduced load so the whole suite stays
well inside its time limit on the 2-core machine; ``make chaos`` sets
``HOOKLINE_CHAOS_MESSAGES=5000``, the size issue 8 names (see docs/chaos.md)."""

from __future__ import annotations

import os

# Messages per fault scenario; each goes to 2 of the 20 endpoints.
DEFAULT_MESSAGES = 300
MESSAGES = int(os.environ.get("HOOKLINE_CHAOS_MESSAGES", DEFAULT_MESSAGES))
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
FULL_SIZE = MESSAGES > DEFAULT_MESSAGES
SCHEMA_EXAMPLES = 50 if FULL_SIZE else 10
SCHEMA_PHASES = "examples,coverage,fuzzing" + (",stateful" if FULL_SIZE else "")
