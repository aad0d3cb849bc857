"""The loader: every rejected input has its own fixture, asserting message, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.config.loader import load_config, load_text
from reconciler.errors import ConfigError, UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "invalid"
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _expectation(path: Path) -> tuple[int, int, str]:
    match = EXPECT.match(path.read_text().splitlines()[0])
    assert match, f"{path.name} must start with '# expect: LINE:COL: message'"
    return int(match[1]), int(match[2]), match[3]


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_rejected_input_is_located(fixture: Path) -> None:
    line, column, message = _expectation(fixture)
    message = message.replace(
        "{file}", str(fixture)
    )  # a second location, e.g. the first of two entries
    with pytest.raises(ConfigError) as caught:
        load_config(fixture)
    matching = [p for p in caught.value.problems if message in p.message]
    assert matching, f"no problem says {message!r}; got {[str(p) for p in caught.value.problems]}"
    problem = matching[0]
    assert (problem.line, problem.column) == (line, column), str(problem)
    assert problem.file == str(fixture)
    assert str(problem).startswith(f"{fixture}:{line}:{column}: ")


def test_every_problem_is_reported_at_once() -> None:
    text = """\
version: 1
policy:
  prune_members: "yes"
organizations:
  acme:
    members:
      - email: a@acme.example
        rol: OWNER
      - email: nope
"""
    with pytest.raises(ConfigError) as caught:
        load_text(text, "f.yaml")
    lines = sorted(p.line for p in caught.value.problems)
    assert 3 in lines and 8 in lines and 9 in lines


def test_valid_file_gives_model_with_defaults() -> None:
    text = """\
version: 1
policy:
  min_owners: 1
organizations:
  acme:
    policy:
      prune_api_keys: true
    members:
      - email: Dana@Acme.example
        role: OWNER
      - handle: jules
    api_keys:
      ci: {id: a2V5}
      fresh:
        status: ACTIVE
"""
    desired = load_text(text, "f.yaml")
    org = desired.organizations["acme"]
    assert [m.role for m in org.members] == ["OWNER", "MEMBER"]
    assert org.members[0].identity == ("email", "dana@acme.example")
    assert org.api_keys["fresh"].id is None and org.api_keys["ci"].status == "ACTIVE"
    policy = desired.effective_policy("acme")
    assert policy.prune_api_keys is True and policy.prune_members is True
    assert policy.max_removals == "25%"


def test_org_policy_overrides_top_level_field_by_field() -> None:
    text = """\
version: 1
policy: {min_owners: 2, protected_members: [a@acme.example], max_removals: 3}
organizations:
  acme:
    policy: {max_removals: 10%}
    members:
      - {email: a@acme.example, role: OWNER}
      - {email: b@acme.example, role: OWNER}
"""
    policy = load_text(text, "f.yaml").effective_policy("acme")
    assert policy.min_owners == 2
    assert policy.protected_members == ("a@acme.example",)
    assert policy.max_removals == "10%"
    assert policy.removal_limit(9) is None  # percentages only bite from 10 members
    assert policy.removal_limit(40) == 4


def test_missing_file_is_a_clear_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\norganizations:\n  caf\xe9: {}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    with pytest.raises(ConfigError):
        load_text("version: 1\norganizations: &a\n  x: *a\n", "f.yaml")
