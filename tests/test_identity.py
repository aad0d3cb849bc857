"""The bulk forms of the identity rule answer exactly as the rule does, one value at a time.

`normalise_all` and `IdentityIndex.of` exist for speed at 100,000 members; whatever the values
(upper case, non-ASCII, empty, repeated), they must give what `normalise` and `IdentityIndex.add`
give, or a plan would match a different person.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reconciler.model.identity import Compared, IdentityIndex, normalise, normalise_all
from reconciler.model.live import LiveKey, LiveMember, LiveOrganization, LiveState

PIECES = st.sampled_from(["a", "B", "ß", "SS", "é", "É", "@", ".", "x", "Σ", "ς", "1", ""])
VALUES = st.lists(st.lists(PIECES, max_size=6).map("".join), max_size=12)
FIELDS = st.sampled_from(["email", "handle", "user_id"])


@given(FIELDS, VALUES)
def test_normalise_all_is_normalise_of_each_value(field: str, values: list[str]) -> None:
    assert normalise_all(field, values) == [normalise(field, v) for v in values]  # type: ignore[arg-type]


@given(VALUES, VALUES)
def test_an_index_built_at_once_finds_what_one_built_record_by_record_finds(
    emails: list[str], handles: list[str]
) -> None:
    size = min(len(emails), len(handles))
    emails, handles = emails[:size], handles[:size]
    user_ids = [f"u{n % 3}" if n % 4 else "" for n in range(size)]  # repeated and empty ids too
    records = list(range(size))
    one_by_one: IdentityIndex[int] = IdentityIndex()
    for record in records:
        one_by_one.add(record, emails[record], handles[record], user_ids[record])
    compared = {
        "email": normalise_all("email", emails),
        "handle": normalise_all("handle", handles),
        "user_id": user_ids,
    }
    at_once = IdentityIndex.of(records, compared.__getitem__)
    for value in [*emails, *handles, *user_ids, "", "nobody"]:
        for field in ("email", "handle", "user_id"):
            assert at_once.get(field, value) == one_by_one.get(field, value)  # type: ignore[arg-type]


@given(FIELDS, VALUES)
def test_compared_looks_up_what_normalise_gives(field: str, values: list[str]) -> None:
    compared = Compared(field)  # type: ignore[arg-type]
    for value in [*values, *values]:  # each twice: the second answer comes from the table
        assert compared[value] == normalise(field, value)  # type: ignore[arg-type]


def _organization(members: tuple[LiveMember, ...]) -> LiveState:
    keys = (LiveKey("k2", "sk-…2", "ACTIVE"), LiveKey("k1", "sk-…1", "DISABLED"))
    org = LiveOrganization("acme", "org-1", "Acme", "OWNER", 10, members, keys)
    return LiveState({"acme": org}, "2026-06")


PEOPLE = (
    LiveMember("dXNlcl9i", "Bob@Acme.example", "Bob", "MEMBER"),
    LiveMember("dXNlcl9h", "dana@acme.example", "dana", "OWNER"),
    LiveMember("", "x@acme.example", "", "MEMBER"),
)


def test_the_live_fingerprint_keeps_its_bytes() -> None:
    """A plan saved by an earlier version holds this digest: a change to what the fingerprint
    feeds would make every saved plan stale at once."""
    assert _organization(PEOPLE).fingerprint() == (
        "8b03f2443436f6d13cc5c00d143ac69a3809763ca43005eda903915a493c60fd"
    )


@given(st.permutations(PEOPLE))
def test_the_live_fingerprint_ignores_the_order_and_case_the_server_lists_people_in(
    members: list[LiveMember],
) -> None:
    shouted = tuple(
        LiveMember(m.user_id, m.email.upper(), m.handle.upper(), m.role) for m in members
    )
    assert _organization(shouted).fingerprint() == _organization(PEOPLE).fingerprint()
