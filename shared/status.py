"""A delivery's status: ``message_destination.status`` and ``message_attempt.status``.

The one definition, shared by ingest (API and dashboard) and the dispatcher. The values
are the Svix SDK's ``MessageStatus`` (svix ``models/message_status.py``), so a Svix
client reads them unchanged; ``text`` is its ``MessageStatusText`` (the lower-case name).
The schema's default (``shared/migrations/001_core.sql``: ``DEFAULT 1``) is PENDING.
"""

from __future__ import annotations

from enum import IntEnum


class MessageStatus(IntEnum):
    """The Svix SDK's ``MessageStatus``; ``status_text`` is the lower-case name."""

    SUCCESS = 0
    PENDING = 1
    FAIL = 2
    SENDING = 3
    # Never attempted: its message was expunged before the broker confirmed its task.
    CANCELED = 4

    @property
    def text(self) -> str:
        """Svix's ``status_text`` for this status."""
        return self.name.lower()

    @classmethod
    def from_text(cls, text: str) -> MessageStatus:
        """The status named by ``text`` (``"fail"``); KeyError for an unknown name."""
        return cls[text.upper()]
