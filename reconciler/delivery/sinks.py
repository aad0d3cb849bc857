"""Which sinks a key's `deliver_to` names, built once per run; one module per kind of sink.

A key without `deliver_to` goes to apply's `--secrets-file`, as it always has. Another kind of
sink (Vault, a cloud secret manager) is one more module implementing `SecretSink` and one more
entry in `_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.models import AgeFileSink as AgeFileEntry
from ..config.models import ApiKeySpec, Sink
from ..config.models import FileSink as FileEntry
from ..config.models import GithubSecretSink as GithubSecretEntry
from .secrets_file import FileSink
from .sink import SecretSink

if TYPE_CHECKING:
    from .github_secret import GithubApi


class Deliveries:
    """The sinks of one run: paths are relative to the desired file's folder; one GitHub client."""

    def __init__(
        self, base: Path, secrets_file: str | Path | None = None, github: GithubApi | None = None
    ) -> None:
        self.base, self.secrets_file = base, secrets_file
        self._github = github

    @property
    def github(self) -> GithubApi:
        """One client for the run's GitHub sinks, made (and libsodium loaded) only if needed."""
        if self._github is None:
            from .github_secret import GithubApi

            self._github = GithubApi()
        return self._github

    def sinks(self, spec: ApiKeySpec | None) -> list[SecretSink]:
        """The sinks of a key; [] when it names none and no --secrets-file was given."""
        if spec is not None and spec.deliver_to:
            return [_BUILDERS[type(entry)](entry, self) for entry in spec.deliver_to]
        if self.secrets_file is None:
            return []
        return [FileSink(Path(self.secrets_file))]

    def close(self) -> None:
        if self._github is not None:
            self._github.close()


def _github(entry: Sink, run: Deliveries) -> SecretSink:
    from .github_secret import GithubSecretSink

    assert isinstance(entry, GithubSecretEntry)
    return GithubSecretSink(entry, run.github)


def _age(entry: Sink, run: Deliveries) -> SecretSink:
    from .age_file import AgeFileSink

    assert isinstance(entry, AgeFileEntry)
    return AgeFileSink(entry, run.base)


def _file(entry: Sink, run: Deliveries) -> SecretSink:
    assert isinstance(entry, FileEntry)
    path = Path(entry.file.path)
    return FileSink(path if path.is_absolute() else run.base / path, entry.file.path)


_BUILDERS: dict[type, Callable[[Sink, Deliveries], SecretSink]] = {
    GithubSecretEntry: _github,
    AgeFileEntry: _age,
    FileEntry: _file,
}
