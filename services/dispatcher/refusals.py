"""Telling "the database is away" from "the database refuses these rows".

The attempt log retries the first kind with backoff until PostgreSQL is back: nothing
is lost by waiting. Retrying the second kind would never end, and would block every
other endpoint's attempts behind one row: a batch refused for its data is split until
the refused entry is alone, which is then written reduced or given up.
"""

from __future__ import annotations

import re

import asyncpg

from shared.db import DATABASE_ERRORS
from shared.response_text import storable_text

# What PostgreSQL (or asyncpg's own encoding of an argument) says about the values
# themselves: a value text refuses, a constraint, a trigger that raised, a row too big.
ROW_REFUSALS: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.PLPGSQLError,
    asyncpg.ProgramLimitExceededError,
)

_MAX_REASON = 300
# asyncpg's argument check quotes the whole refused argument (a column of the batch:
# every URL in it); only the cause in its last parentheses is kept.
_ARGUMENT = re.compile(r"^(invalid input for query argument \$\d+):.*?(\([^()]*\))?$", re.DOTALL)


class AttemptNotStored(Exception):
    """The database refused an attempt-log entry in every form: its delivery is not
    settled, and its task goes back to the queue (where the poison guard watches)."""


def database_away(exc: BaseException) -> bool:
    """True for a failure worth waiting out (the server away, restarting, overloaded, a
    broken connection, a serialisation conflict); False for a refusal of the data, and
    for anything unforeseen, which splitting the batch confines to its own entry."""
    return isinstance(exc, DATABASE_ERRORS) and not isinstance(exc, ROW_REFUSALS)


def refusal_reason(exc: BaseException) -> str:
    """A short text saying why the database refused an entry, fit for the attempt's
    ``error`` column and a log line: the message, never the values of the batch."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if match := _ARGUMENT.match(text):
        text = " ".join(part for part in match.groups() if part)
    name = type(exc).__name__
    reason = f"{name}: {text}" if text else name
    return storable_text(reason[:_MAX_REASON])
