"""A file encrypted with age (https://age-encryption.org/v1) to the recipients the file names,
so it can sit beside the code: `age -d -i KEY FILE` gives the secret back, and nobody without
one of the identities can. Written atomically (a temporary file, synced, then renamed): a full
disk leaves the previous copy in place."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage

from ..config.models import AgeFileSink as AgeFileEntry
from ..errors import DeliveryError, ReconcilerError
from ..safe_files import commit_staged, discard_staged, refuse_symlink, stage_atomic
from .sink import DeliveredCopy, NewKey, Receipt, SecretSink, Staged

WHAT = "age file"


def _recipient(text: str) -> pyrage.x25519.Recipient | pyrage.ssh.Recipient:
    if text.startswith("ssh-"):
        return pyrage.ssh.Recipient.from_str(text)
    return pyrage.x25519.Recipient.from_str(text)


class AgeFileSink(SecretSink):
    def __init__(self, entry: AgeFileEntry, base: Path) -> None:
        self.entry, self.target = entry, entry.age_file
        path = Path(self.target.path)
        self.path = path if path.is_absolute() else base / path

    def describe(self) -> str:
        return self.entry.describe()

    def _recipients(self) -> list[pyrage.x25519.Recipient | pyrage.ssh.Recipient]:
        try:
            return [_recipient(text) for text in self.target.recipients]
        except pyrage.RecipientError:
            raise DeliveryError(self.describe(), "a recipient is not a valid age key") from None

    def check(self) -> None:
        self._recipients()
        try:
            refuse_symlink(self.path, WHAT)
        except ReconcilerError as exc:
            raise DeliveryError(self.describe(), str(exc)) from None
        if not self.path.parent.is_dir():
            raise DeliveryError(self.describe(), f"its folder {self.path.parent} does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise DeliveryError(self.describe(), f"its folder {self.path.parent} is not writable")

    def stage(self, key: NewKey) -> Staged:
        sealed = pyrage.encrypt(key.secret.get_secret_value().encode(), self._recipients())
        try:
            temporary = stage_atomic(self.path, sealed, what=WHAT, mode=0o644)
        except ReconcilerError as exc:
            raise DeliveryError(self.describe(), str(exc)) from None
        return _StagedFile(self, temporary)

    def read_back(self) -> DeliveredCopy:
        try:
            size = self.path.lstat().st_size
        except FileNotFoundError:
            return DeliveredCopy(present=False)
        except OSError as exc:
            raise DeliveryError(self.describe(), f"cannot read it ({exc.strerror})") from None
        return DeliveredCopy(True, {"size": str(size)})


class _StagedFile(Staged):
    def __init__(self, sink: AgeFileSink, temporary: Path) -> None:
        self.sink, self.temporary = sink, temporary

    def commit(self) -> Receipt:
        try:
            commit_staged(self.temporary, self.sink.path, what=WHAT)
        except ReconcilerError as exc:
            raise DeliveryError(self.sink.describe(), str(exc)) from None
        copy = self.sink.read_back()
        if not copy.present:
            raise DeliveryError(self.sink.describe(), "written, but not there when read back")
        return Receipt(self.sink.describe(), copy.detail)

    def discard(self) -> None:
        discard_staged(self.temporary)
