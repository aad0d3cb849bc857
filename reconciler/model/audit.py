"""What the audit trail records: the kinds of records and the outcomes a write can have.

The chain itself (hashes, HMACs, files) is the store's business; these are the words it uses,
so the executor, crash settlement and `audit verify` cannot spell an event two ways.
"""

from __future__ import annotations

from typing import Literal

EventType = Literal[
    "run.start",  # an apply begins: plan hash, change count, organizations
    "run.end",  # it finished: counts, write calls
    "run.interrupted",  # Ctrl-C or SIGTERM stopped it: what was left unsent
    "write.intent",  # flushed before a write call goes out: organization, action, targets
    "write",  # the call's outcome, chained to its intent
    "write.settled",  # a later run read what an intent without an outcome left behind
    "key.bound",  # new key ids written into the desired file beside their labels
    "audit.repair",  # a torn last record was sealed
]
EVENT_TYPES: tuple[EventType, ...] = (
    "run.start",
    "run.end",
    "run.interrupted",
    "write.intent",
    "write",
    "write.settled",
    "key.bound",
    "audit.repair",
)
# ok: every item applied; partial: some; failed: none; unknown: the call may have acted (a
# timeout after sending, a 5xx), so the next read settles it.
WriteOutcome = Literal["ok", "partial", "failed", "unknown"]
