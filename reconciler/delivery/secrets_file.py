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

    def _ends_whole(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def check(self) -> None:
        """Fail before any call if the file cannot be written safely: it is opened for appending
        now (a read-only mount or a full disk shows here, not after a key exists), it must belong
        to whoever runs the tool (root appending to another user's file would hand them the
        secret) and be readable by its owner alone."""
        refuse_symlink(self.path, "secrets file")
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"{self.path}: its folder does not exist")
        existed = self.path.exists()
        fd = open_for_append(self.path, what="secrets file", mode=0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"{self.path}: the secrets file is not a regular file")
            if existed and info.st_uid != os.geteuid():
                raise UsageError(
                    f"{self.path}: the secrets file belongs to another user (uid {info.st_uid}); "
                    "give a file of your own"
                )
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise UsageError(
                    f"{self.path}: secrets file is readable by others (mode {mode:o}); "
                    f"chmod 600 it first"
                )
        finally:
            os.close(fd)
        if not existed:
            self.path.unlink(missing_ok=True)  # the check leaves nothing behind

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
            # a torn last line (a crash mid-write) is ended first, so this line stays whole
            if os.fstat(fd).st_size and not self._ends_whole():
                handle.write("\n")
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
