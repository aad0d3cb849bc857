"""The local secrets file: JSON Lines of new keys, mode 0600, for a key delivered to this machine
(`deliver_to: [file: ...]`, or apply's `--secrets-file`).

The server shows a key's secret once, in the answer to the call that creates it.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from ..errors import DeliveryError, ReconcilerError, UsageError
from ..safe_files import open_for_append, refuse_symlink
from .sink import DeliveredCopy, NewKey, Receipt, SecretSink, Staged


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


class FileSink(SecretSink):
    def __init__(self, path: Path, shown: str | None = None) -> None:
        self.file = SecretsFile(path)
        self.shown = shown if shown is not None else str(path)

    def describe(self) -> str:
        return f"file {self.shown}"

    def check(self) -> None:
        try:
            self.file.check()
        except ReconcilerError as exc:
            raise DeliveryError(self.describe(), str(exc)) from None

    def stage(self, key: NewKey) -> Staged:
        self.check()
        return _StagedLine(self, key)

    def read_back(self) -> DeliveredCopy:
        try:
            size = self.file.path.lstat().st_size
        except FileNotFoundError:
            return DeliveredCopy(present=False)
        return DeliveredCopy(True, {"size": str(size)})

    def comparable(self, detail: dict[str, str]) -> dict[str, str]:
        return {}  # later keys append to the same file: only its presence says anything


class _StagedLine(Staged):
    def __init__(self, sink: FileSink, key: NewKey) -> None:
        self.sink, self.key = sink, key

    def commit(self) -> Receipt:
        key = self.key
        try:
            self.sink.file.write(
                key.organization,
                key.label,
                key.api_key_id,
                key.secret.get_secret_value(),
                key.creation_time,
            )
        except (OSError, ReconcilerError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise DeliveryError(self.sink.describe(), f"cannot append to it ({reason})") from None
        copy = self.sink.read_back()
        return Receipt(self.sink.describe(), copy.detail)

    def discard(self) -> None:
        return None
