"""The one interface every source of members implements, and the error they raise."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..errors import ReconcilerError
from ..model.sources import SourcedEntry


class SourceError(ReconcilerError):
    """A source could not be read (down, refused, timed out, an answer out of shape): the plan
    fails and nothing is sent. Names the source, never a credential."""

    def __init__(self, source: str, message: str) -> None:
        self.source, self.message = source, message
        super().__init__(f"{source}: {message}")

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str]]:
        return type(self), (self.source, self.message)  # errors stay whole when pickled


@dataclass(frozen=True)
class SourceAnswer:
    """The people a source gave, and what it could not use (an entry without an email), which
    is reported, never guessed."""

    entries: list[SourcedEntry]
    skipped: list[str] = field(default_factory=list)


class MemberSource(ABC):
    """A place members come from. `read` returns everyone it gives, or raises SourceError."""

    @abstractmethod
    def describe(self) -> str:
        """How plans name it, in provenance: `ldap cn=ideogram-owners,...`."""

    @abstractmethod
    def read(self) -> SourceAnswer: ...
