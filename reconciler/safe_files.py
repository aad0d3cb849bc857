"""The user's files the tool writes or appends to (plan files, exports, the desired file's
key ids, the secrets file, the audit log) go through here.

Writes are atomic (a temporary file in the same folder, flushed, then renamed over the target), so
a crash or a full disk leaves the old file or the new one, never half of one and never a 0-byte
file. Nothing is opened through a symbolic link: a link planted where the secrets file or the
audit log should be would send a secret, or the record of a write, somewhere else.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import ReconcilerError, UsageError


class FileWriteError(ReconcilerError):
    """A file could not be written (full disk, no permission...): nothing was left half-written."""


def refuse_symlink(path: str | Path, what: str) -> None:
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise UsageError(
                f"{path}: the {what} is a symbolic link; refusing to follow it (give the real path)"
            )
    except FileNotFoundError:
        return


def write_atomic(
    path: str | Path,
    data: str | bytes,
    *,
    what: str,
    mode: int | None = None,
    final_newline: bool = False,
) -> None:
    """Replace `path` with `data` in one step. `mode` None keeps an existing file's mode (or
    0o644). `final_newline` ends the file with one when `data` does not (without a copy of a
    40 MB report to add it)."""
    staged = stage_atomic(path, data, what=what, mode=mode, final_newline=final_newline)
    commit_staged(staged, path, what=what)


def stage_atomic(
    path: str | Path,
    data: str | bytes,
    *,
    what: str,
    mode: int | None = None,
    final_newline: bool = False,
) -> Path:
    """The first half of an atomic write: `data` in a temporary file beside `path`, flushed to
    disk (where a full disk shows), not yet in place. `commit_staged` puts it there;
    `discard_staged` leaves `path` as it was."""
    path = Path(path)
    refuse_symlink(path, what)
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o644
    folder = path.parent if str(path.parent) else Path(".")
    temporary = ""
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if isinstance(data, bytes):
                _write_payload(handle, data)
            else:  # encoded a piece at a time: a 40 MB report is not held twice
                for start in range(0, len(data), _PIECE_CHARS):
                    _write_payload(handle, data[start : start + _PIECE_CHARS].encode())
            if final_newline and data[-1:] not in ("\n", b"\n"):
                _write_payload(handle, b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if temporary:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise FileWriteError(
            f"{path}: cannot write the {what} ({exc.strerror or exc}); it is unchanged"
        ) from None
    return Path(temporary)


def commit_staged(temporary: Path, path: str | Path, *, what: str) -> None:
    """Rename a staged file over `path` and make the rename durable."""
    path = Path(path)
    try:
        refuse_symlink(path, what)
        os.replace(temporary, path)
        folder = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        discard_staged(temporary)
        raise FileWriteError(
            f"{path}: cannot write the {what} ({exc.strerror or exc}); it is unchanged"
        ) from None
    except UsageError:
        discard_staged(temporary)
        raise


def discard_staged(temporary: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temporary)


_PIECE_CHARS = 1 << 20  # characters of text encoded and written at once


def _write_payload(handle: BinaryIO, payload: bytes) -> None:
    handle.write(payload)  # one place where a full disk shows (tests simulate ENOSPC here)


def open_for_append(path: str | Path, *, what: str, mode: int, readable: bool = False) -> int:
    """A descriptor for appending to `path` (created with `mode`), refusing a symbolic link."""
    access = os.O_RDWR if readable else os.O_WRONLY
    try:
        return os.open(path, access | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"{path}: the {what} is a symbolic link; refusing to follow it (give the real path)"
            ) from None
        raise FileWriteError(f"{path}: cannot open the {what} ({exc.strerror})") from None


def read_bytes(
    path: str | Path, *, what: str, max_bytes: int | None = None, follow_links: bool = False
) -> bytes:
    """The file's bytes, refusing a symbolic link (unless `follow_links`: a user's own desired
    file may be one), anything but a regular file (a FIFO would hang the read, /dev/zero never
    end) and, with `max_bytes`, a file larger than that."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(
                f"{path}: the {what} is a symbolic link; refusing to follow it (give the real path)"
            ) from None
        raise ReconcilerError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReconcilerError(f"{path}: the {what} is not a regular file")
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ReconcilerError(f"{path}: the {what} is larger than {max_bytes} bytes; refusing it")
    return data
