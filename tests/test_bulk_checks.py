"""The checks of a whole list never pass a value the one-at-a-time rule would treat otherwise.

`plain_emails` lets the loader skip each entry's own email check (a tenth of loading 100,000
members), and export skip its check per member. If it said True for a list holding one address
`check_email` or `_visible_name` refuses, a broken file would load; so every value it passes must
pass them, whatever the characters. Likewise `plain_as_written` lets export write addresses
without `yaml_scalar`: each must be what `yaml_scalar` writes.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.config.fast_yaml import plain_as_written, yaml_scalar
from reconciler.config.loader import load_text
from reconciler.config.models import (
    Member,
    _visible_name,
    check_email,
    members_of_plain_emails,
    plain_emails,
)
from reconciler.errors import ConfigError

PIECES = st.sampled_from(
    ["a", "Z", "0", "@", ".", "..", "-", "+", "!", "\n", " ", "\t", "é", "\u200b", "x" * 30]
    + ["example.com", "acme.example", "[1.2.3.4]", "localhost", "-bad-.example", "", '"q"']
)
VALUES = st.lists(st.lists(PIECES, max_size=7).map("".join), max_size=8)


def _accepted_alone(value: str) -> bool:
    try:
        check_email(_visible_name(value))
    except ValueError:
        return False
    return True


@given(VALUES)
@example(["a@b.example\nc@d.example", "e"])
@example(["a\nb@acme.example"])
@example([".a@acme.example"])
@example(["a.@acme.example"])
@example(["a..b@acme.example"])
@example(["@acme.example"])
@example(["a@"])
@example(["a@b@acme.example", "plain"])
@example(["x" * 65 + "@acme.example"])
def test_a_list_passed_at_once_passes_one_address_at_a_time(values: list[str]) -> None:
    if plain_emails(list(values)):
        assert all(_accepted_alone(value) for value in values), values


def test_plain_addresses_pass_at_once() -> None:
    assert plain_emails(["dana.reyes@acme.example", "o'neil+x@sub.acme.example"])
    assert plain_emails([])


def test_anything_not_a_string_is_left_to_the_full_check() -> None:
    assert not plain_emails(["a@acme.example", None])
    assert not plain_emails(["a@acme.example", 7])


@pytest.mark.parametrize(
    "bad", ["a\u200b@acme.example", "a b@acme.example", "a@-bad-.example", "a..b@acme.example"]
)
def test_one_bad_address_among_plain_ones_is_still_located(bad: str) -> None:
    lines = [f"      - email: m{n}@acme.example" for n in range(30)]
    lines[17] = f'      - email: "{bad}"'
    text = "version: 1\norganizations:\n  acme:\n    members:\n" + "\n".join(lines) + "\n"
    text += "      - {email: owner@acme.example, role: OWNER}\n"
    with pytest.raises(ConfigError) as raised:
        load_text(text, "f.yaml")
    assert "f.yaml:22:" in str(raised.value), str(raised.value)
    assert "email" in str(raised.value)


@given(VALUES)
@example(["a@b.example\nc", "d@e.example"])
@example(["-a@b.example"])
@example([".a@b.example"])
@example(["true"])
@example(["12"])
@example(["a@b.example", ""])
def test_addresses_written_as_they_are_are_what_yaml_scalar_writes(values: list[str]) -> None:
    if plain_as_written(list(values)):
        assert all(yaml_scalar(value) == value for value in values), values


def test_plain_addresses_are_written_as_they_are() -> None:
    assert plain_as_written(["dana.reyes@acme.example", "o-neil+x_1@sub.acme.example"])
    assert not plain_as_written(["o'neil@acme.example"])  # a quote: yaml_scalar decides


@pytest.mark.parametrize("bad_at", [3, 15_000, 24_999])
def test_a_bad_entry_in_a_long_list_is_located_wherever_the_reader_was(bad_at: int) -> None:
    """Entries are validated while the rest of the file is read (ITEMS_PER_CALL at a time): one
    bad entry, early, in the middle or last, still fails the file with its own line."""
    lines = [f"      - email: m{n}@acme.example" for n in range(25_000)]
    lines[bad_at] = "      - {email: m@acme.example, rol: OWNER}"
    text = "version: 1\norganizations:\n  acme:\n    members:\n" + "\n".join(lines) + "\n"
    text += "      - {email: owner@acme.example, role: OWNER}\n"
    with pytest.raises(ConfigError) as raised:
        load_text(text, "f.yaml")
    assert f"f.yaml:{bad_at + 5}:" in str(raised.value), str(raised.value)[:500]
    assert "rol" in str(raised.value)


@given(VALUES)
@example(["dana.reyes@acme.example", "o'neil+x@sub.acme.example"])
def test_members_made_in_bulk_are_the_members_validation_makes(values: list[str]) -> None:
    """`members_of_plain_emails` skips each entry's validation: for addresses `plain_emails`
    passes, what it makes must equal what validating `{email: ...}` makes, field for field."""
    if plain_emails(list(values)):
        made = members_of_plain_emails(list(values))
        assert made == [Member(email=value) for value in values]
        assert all(type(member) is Member for member in made)


def test_a_chunk_of_email_only_entries_loads_as_validated_entries_do() -> None:
    """Entries `{email: ...}` alone are made in bulk; beside an entry with a role or another
    identifier, the chunk is validated; the file loads the same either way."""
    plain = [f"      - email: m{n}@acme.example" for n in range(30)]
    head = "version: 1\npolicy:\n  min_owners: 0\norganizations:\n  acme:\n    members:\n"
    expected = [Member(email=f"m{n}@acme.example") for n in range(30)]
    bulk = load_text(head + "\n".join(plain) + "\n", "f.yaml").organizations["acme"].members
    assert bulk == expected
    mixed = [*plain, "      - email: owner@acme.example\n        role: OWNER", "      - handle: h1"]
    validated = load_text(head + "\n".join(mixed) + "\n", "f.yaml").organizations["acme"].members
    assert validated == [
        *expected,
        Member(email="owner@acme.example", role="OWNER"),
        Member(handle="h1"),
    ]
