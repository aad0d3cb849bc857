"""Where the secret of a new key goes: a 0600 file, and nowhere else.

The server shows a key's secret once, in the answer to the call that creates it.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UsageError
from ..safe_files import open_for_append, refuse_symlink


class SecretsFile:
    """Append-only JSON Lines of new keys, readable by the owner alone."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def check(self) -> None:
        """Fail before any call if the file cannot be written safely."""
        refuse_symlink(self.path, "secrets file")
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                raise UsageError(
                    f"{self.path}: secrets file is readable by others (mode {mode:o}); "
                    f"chmod 600 it first"
                )
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"{self.path}: its folder does not exist")

    def write(
        self, organization: str, label: str, api_key_id: str, secret: str, creation_time: str
    ) -> None:
        fd = open_for_append(self.path, what="secrets file", mode=0o600)
        os.fchmod(fd, 0o600)
        line = json.dumps(
            {
                "organization": organization,
                "label": label,
                "api_key_id": api_key_id,
                "api_key": secret,
                "creation_time": creation_time,
                "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        with os.fdopen(fd, "a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
