"""The one interface every place a new key's secret can go implements.

A delivery happens in two halves so that a failure leaves nothing behind: `stage` does all that
can fail (read GitHub's public key and seal the secret, write an encrypted temporary file), and
`commit` puts the staged copy in place and reads back what can be read back. The executor stages
every sink of a key before it commits any, so a full disk or a refused token shows before a
consumer's copy changes. A sink holds the secret in memory only, and says what it did without it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from pydantic import SecretStr


def fingerprint(secret: SecretStr) -> str:
    """What the audit trail keeps of a secret: enough to tell two keys apart, nothing to use."""
    digest = hashlib.sha256(secret.get_secret_value().encode()).hexdigest()
    return f"sha256:{digest[:16]}"


@dataclass(frozen=True)
class NewKey:
    """A key just created, as a sink receives it."""

    organization: str
    label: str
    api_key_id: str
    creation_time: str
    secret: SecretStr = field(repr=False)


@dataclass(frozen=True)
class Receipt:
    """What a sink read back after its copy was in place: on record, never a secret."""

    sink: str
    detail: dict[str, str]

    def as_json(self) -> dict[str, str]:
        return {"sink": self.sink, **self.detail}


@dataclass(frozen=True)
class DeliveredCopy:
    """What is there now, as drift reads it: present or not, and what a reader can tell."""

    present: bool
    detail: dict[str, str] = field(default_factory=dict)


class Staged(ABC):
    """A copy ready to go in place."""

    @abstractmethod
    def commit(self) -> Receipt: ...

    @abstractmethod
    def discard(self) -> None: ...


class SecretSink(ABC):
    """A place a new key's secret is delivered to."""

    # a commit that crosses a network can still be refused after staging: such sinks commit
    # first, so a refusal leaves the local copies (a rename away from done) untouched
    commits_over_network: bool = False

    @abstractmethod
    def describe(self) -> str:
        """Where, in words a reviewer reads in the plan: no secret, no token."""

    @abstractmethod
    def check(self) -> None:
        """Before any key is created: raise DeliveryError if this sink cannot take a copy."""

    @abstractmethod
    def stage(self, key: NewKey) -> Staged: ...

    @abstractmethod
    def read_back(self) -> DeliveredCopy:
        """What is there now (for drift)."""

    def comparable(self, detail: dict[str, str]) -> dict[str, str]:
        """The fields of a receipt that say which copy is there: drift compares these between
        the receipt on record and a read back now."""
        return {name: value for name, value in detail.items() if name != "sink"}
