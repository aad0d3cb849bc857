"""Deterministic crash points: a test kills a run at an exact moment instead of after a guessed
sleep.

`IDEOGRAM_ORG_CRASH_AT=MOMENT:N` makes the process exit at once (as `kill -9` would: no cleanup,
no flush, exit status 137) the Nth time it reaches MOMENT:

- `write.intent`: an intent is on record, its call not yet sent;
- `sent`: a call was answered, its outcome not yet on record;
- `write`: a call's outcome is on record;
- `published`: the git state store pushed the run's records (a checkpoint or the release);
- `delivery.staged`: a new key's secret is staged for one of its sinks (nothing in place yet);
- `delivery.committed`: one sink holds the new key's secret;
- `key.bound`: a new key is bound in the shared state store (its binding not yet published).

Unset (always, outside tests), nothing happens. Like the sandbox's faults, it is chosen from
outside the process, so the code under test is the code users run.
"""

from __future__ import annotations

import os
import threading

CRASH_ENV = "IDEOGRAM_ORG_CRASH_AT"
MOMENTS = (
    "write.intent",
    "sent",
    "write",
    "published",
    "delivery.staged",
    "delivery.committed",
    "key.bound",
)
CRASH_STATUS = 137  # what a shell reports for a process killed by SIGKILL

_lock = threading.Lock()
_seen: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    moment, _, count = os.environ.get(CRASH_ENV, "").partition(":")
    if moment not in MOMENTS or not count.isdigit():
        return None
    return moment, int(count)


def reached(moment: str) -> None:
    """Count a moment; exit at once when it is the chosen one."""
    target = _target()
    if target is None or target[0] != moment:
        return
    with _lock:
        _seen[moment] = _seen.get(moment, 0) + 1
        if _seen[moment] == target[1]:
            os._exit(CRASH_STATUS)
