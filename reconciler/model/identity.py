"""Who is who: the one rule for comparing people, and the one index built on it, used by the
loader, the planner, the usage rules, export, plans and the sandbox alike.

Ideogram compares emails and handles without regard to case; user ids are opaque and exact.
Case is folded with Unicode case folding after NFC normalisation, so `STRASSE@x` and `straße@x`
are one person everywhere in this tool: the loader rejects a file listing both, and the planner
matches either to the same live member. Every comparison of identifiers goes through here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from functools import partial
from typing import Generic, Literal, TypeVar

IdentifierField = Literal["email", "handle", "user_id"]
IDENTIFIER_FIELDS: tuple[IdentifierField, ...] = ("email", "handle", "user_id")
Identity = tuple[IdentifierField, str]


def normalise(field: IdentifierField, value: str) -> str:
    """The form two identifiers of one field are compared in."""
    if field == "user_id":
        return value
    if value.isascii():  # the same answer, without the Unicode work, for nearly every address
        return value if value.islower() else value.lower()  # no copy when it is lower case already
    return unicodedata.normalize("NFC", value).casefold()


def normalise_all(field: IdentifierField, values: list[str]) -> list[str]:
    """`normalise` of each value, in order. Nearly always every value is lower-case ASCII already:
    one check of them all then answers for each (the list itself comes back), instead of a call
    per value, which at 100,000 members was a sixth of a plan's work."""
    if field == "user_id":
        return values
    joined = "\n".join(values)
    if joined.isascii() and joined.lower() == joined:  # ASCII's only folding is lower case
        return values
    return [normalise(field, value) for value in values]


class Compared(dict[str, str]):
    """`normalise(field, value)` by value, each worked out once, on first lookup: for values that
    repeat, as an address does on every day of usage (a lookup, not a call, per repeat)."""

    def __init__(self, field: IdentifierField) -> None:
        super().__init__()
        self.field = field

    def __missing__(self, value: str) -> str:
        compared = self[value] = normalise(self.field, value)
        return compared


def identity(field: IdentifierField, value: str) -> Identity:
    return (field, normalise(field, value))


def identities(email: str | None, handle: str | None, user_id: str | None) -> list[Identity]:
    """Every identity a record carries; empty or absent identifiers name nobody."""
    given: tuple[tuple[IdentifierField, str | None], ...] = (
        ("email", email),
        ("handle", handle),
        ("user_id", user_id),
    )
    return [identity(field, value) for field, value in given if value]


def same_person(left: Iterable[Identity], right: Iterable[Identity]) -> bool:
    """Whether two records share any identity: what makes them one person."""
    return not set(left).isdisjoint(right)


def names_person(name: str, email: str | None, handle: str | None, user_id: str | None) -> bool:
    """Whether a bare name (as in protected_members) is any identifier of this record."""
    mine = identities(email, handle, user_id)
    return any((field, normalise(field, name)) in mine for field in IDENTIFIER_FIELDS)


def matches_glob(patterns: Iterable[str], *names: str | None) -> bool:
    """Whether any name (email or handle) matches any glob, compared as identifiers are."""
    if not patterns:
        return False
    folded = [normalise("email", name) for name in names if name]
    return any(
        fnmatchcase(name, normalise("email", pattern)) for pattern in patterns for name in folded
    )


Record = TypeVar("Record")


class IdentityIndex(Generic[Record]):
    """Records (live members, a directory's users) by each identifier they carry, compared by the
    rule above: the one lookup the planner and the sandbox share. The first record to carry an
    identifier keeps it. One dict per field, keyed by the compared form: no (field, value) tuple
    per identifier, which at 100,000 members was 17 MB."""

    def __init__(self) -> None:
        self._by_field: dict[IdentifierField, dict[str, Record]] = {
            "email": {},
            "handle": {},
            "user_id": {},
        }
        self._records: list[Record] = []
        self._pending: dict[IdentifierField, Callable[[], list[str]]] = {}

    def _table(self, field: IdentifierField) -> dict[str, Record]:
        keys = self._pending.pop(field, None)
        if keys is not None:  # the earliest record is written last, so it keeps the key
            table = dict(zip(reversed(keys()), reversed(self._records), strict=True))
            table.pop("", None)
            self._by_field[field] = table
        return self._by_field[field]

    def add(
        self, record: Record, email: str | None, handle: str | None, user_id: str | None
    ) -> None:
        """Index `record` under its identifiers; empty or absent ones name nobody."""
        if email:
            self._table("email").setdefault(normalise("email", email), record)
        if handle:
            self._table("handle").setdefault(normalise("handle", handle), record)
        if user_id:
            self._table("user_id").setdefault(user_id, record)

    @classmethod
    def of(
        cls, records: list[Record], keys: Callable[[IdentifierField], list[str]]
    ) -> IdentityIndex[Record]:
        """The index of `records`, given by `keys(field)` each one's identifier of a field already
        in compared form ("" for none), in order: the first record keeps an identifier, as with
        `add`. A field's table is built at its first lookup: a file naming everyone by email
        never builds the handle and user id tables (80 MB at 1,000,000 members)."""
        index: IdentityIndex[Record] = cls()
        index._records = records
        for field in IDENTIFIER_FIELDS:
            index._pending[field] = partial(keys, field)
        return index

    def lookup(self, field: IdentifierField) -> Callable[[str], Record | None]:
        """The lookup of one field for keys already in compared form (bound once for a loop)."""
        return self._table(field).get

    def get(self, field: IdentifierField, value: str) -> Record | None:
        """The record `value` names in `field` (compared as identifiers are)."""
        return self._table(field).get(normalise(field, value))

    def get_normalised(self, key: Identity) -> Record | None:
        """The record of an identity already in compared form (no second normalisation)."""
        return self._table(key[0]).get(key[1])
