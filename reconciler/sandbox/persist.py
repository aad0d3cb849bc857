"""Saving a served sandbox's state without rewriting the whole file after every write.

At 100,000 members a save costs about half a second of CPU; `sandbox serve` used to pay it inside
every accepted write. Now a write only marks the state changed; a background thread saves once the
writes pause for `quiet` seconds (an apply's burst of calls costs one save, after it, and never
competes with its answers), or at the latest `max_delay` seconds after the first unsaved write.
`close()` saves whatever is left, so a clean stop (Ctrl-C, SIGTERM) loses nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .state import SandboxState, write_state

QUIET_SECONDS = 1.0
MAX_DELAY_SECONDS = 10.0


class DebouncedSaver:
    def __init__(
        self,
        state: SandboxState,
        path: str | Path,
        lock: Any,
        quiet: float = QUIET_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
    ) -> None:
        self.state, self.path, self.lock = state, Path(path), lock
        self.quiet, self.max_delay = quiet, max_delay
        self._last_write = self._first_unsaved = 0.0
        self.users = [
            asdict(u) for u in state.users.values()
        ]  # a served sandbox never changes its users
        self.saves = 0
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-saver", daemon=True)
        self._thread.start()

    def changed(self, _state: SandboxState) -> None:
        """Called by the sandbox, under its lock, after each accepted write."""
        now = time.monotonic()
        if not self._dirty.is_set():
            self._first_unsaved = now
        self._last_write = now
        self._dirty.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._dirty.wait(timeout=0.2):
                continue
            now = time.monotonic()
            due = min(self._last_write + self.quiet, self._first_unsaved + self.max_delay)
            if now >= due:
                self.save_now()
            else:
                self._stopping.wait(min(due - now, 0.2))

    def save_now(self) -> None:
        with self.lock:  # a consistent picture: no write is half done while it is taken
            if not self._dirty.is_set():
                return
            self._dirty.clear()
            data = self.state.to_dict(include_users=False)
        data["users"] = self.users
        write_state(data, self.path)
        self.saves += 1

    def close(self) -> None:
        """Stop the thread and save what is not saved yet."""
        self._stopping.set()
        self._thread.join()
        self.save_now()
