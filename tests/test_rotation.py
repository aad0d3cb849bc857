"""Rotation with overlap: phase one (a successor created and delivered, the predecessor kept
ACTIVE), phase two (the predecessor deactivated once the overlap has passed, or once usage shows
it idle while its successor works), judged by the pure planner on the clock it is given; and a
rotation carried end to end on the served sandbox, its clock moved day by day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler import service
from reconciler.config.loader import load_config
from reconciler.errors import UnsafePlanError
from reconciler.model.changes import KeyDeactivate, KeyRotate
from reconciler.model.live import LiveKey
from reconciler.model.plan import ScheduledRotation
from reconciler.model.rotation import KeyFacts, Retiring
from reconciler.planning.planner import compute_plan
from reconciler.planning.rotation import rotation_phases
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.usage import UsagePattern
from reconciler.service.connect import open_api
from tests.scenario import TOKEN, cli, served
from tests.test_planner import OWNER, desired, live_state, member

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
ROTATED = """\
ci:
  id: K1
  rotate: {every: 90d, overlap: 7d}
"""


def key_made(key_id: str, when: datetime, status: str = "ACTIVE") -> LiveKey:
    return LiveKey(key_id, "abcd•••", status, when.isoformat())


def plan_at(now: datetime, keys: list[LiveKey], retiring=None, replace=frozenset(), text=ROTATED):
    facts = KeyFacts(now=now, retiring=retiring or {}, replace=frozenset(replace))
    return compute_plan(
        desired(OWNER, text),
        live_state([member("owner", "OWNER")], keys),
        desired_file="test.yaml",
        desired_hash="0" * 64,
        keys={"acme": facts},
    )


def test_a_key_is_rotated_once_its_period_has_passed_and_not_before():
    keys = [key_made("K1", T0)]
    early = plan_at(T0 + 89 * DAY, keys)
    assert early.changes == []
    assert [(n.phase, n.when[:10]) for n in early.rotations] == [("scheduled", "2026-05-30")]
    due = plan_at(T0 + 90 * DAY, keys)
    (change,) = due.changes
    assert isinstance(change, KeyRotate) and change.key_id == "K1"
    assert change.overlap_seconds == 7 * 86400 and "due every 90d" in change.reason
    assert due.rotations[0].phase == "due"


def test_replace_key_rotates_now_and_a_key_without_rotate_is_never_due():
    keys = [key_made("K1", T0)]
    plain = "ci: {id: K1}\n"
    assert plan_at(T0 + 400 * DAY, keys, text=plain).changes == []
    (change,) = plan_at(T0, keys, replace={"ci"}, text=plain).changes
    assert isinstance(change, KeyRotate) and change.reason == "asked for by --replace-key"
    assert change.overlap_seconds == 0


def test_the_predecessor_waits_out_the_overlap_and_is_never_an_unmanaged_key():
    successor_made = T0 + 90 * DAY
    keys = [key_made("K1", T0), key_made("K2", successor_made)]
    retiring = {"K1": Retiring("K1", "ci", "K2", successor_made + 7 * DAY)}
    text = "ci:\n  id: K2\n  rotate: {every: 90d, overlap: 7d}\n"
    waiting = plan_at(successor_made + 3 * DAY, keys, retiring, text=text)
    assert waiting.changes == [] and waiting.unmanaged_keys == []
    assert [n.phase for n in waiting.rotations] == ["retiring"]  # one rotation at a time
    done = plan_at(successor_made + 7 * DAY, keys, retiring, text=text)
    (change,) = done.changes
    assert isinstance(change, KeyDeactivate) and change.key_id == "K1" and change.retires
    assert change.irreversible and "overlap ended" in change.reason
    assert done.organizations[0].key_deactivations == 1


def test_usage_retires_an_idle_predecessor_early():
    successor_made = T0 + 90 * DAY
    keys = [key_made("K1", T0), key_made("K2", successor_made)]
    idle = {"K1": Retiring("K1", "ci", "K2", successor_made + 7 * DAY, True)}
    text = "ci:\n  id: K2\n  rotate: {every: 90d, overlap: 7d}\n"
    (change,) = plan_at(successor_made + 2 * DAY, keys, idle, text=text).changes
    assert isinstance(change, KeyDeactivate) and "unused for 24 hours" in change.reason


def test_a_retirement_counts_against_max_key_deactivations():
    made = T0 + 90 * DAY
    keys = [key_made(f"K{i}", T0) for i in range(3)] + [key_made(f"N{i}", made) for i in range(3)]
    retiring = {f"K{i}": Retiring(f"K{i}", f"k{i}", f"N{i}", made) for i in range(3)}
    text = "".join(f"k{i}: {{id: N{i}}}\n" for i in range(3))
    plan = compute_plan(
        desired(OWNER, text, "max_key_deactivations: 2\n"),
        live_state([member("owner", "OWNER")], keys),
        desired_file="test.yaml",
        desired_hash="0" * 64,
        keys={"acme": KeyFacts(now=made + DAY, retiring=retiring)},
    )
    assert sum(isinstance(c, KeyDeactivate) for c in plan.changes) == 3
    assert not plan.safe and len(plan.violations) == 1


def test_a_scheduled_run_applies_only_what_the_schedule_asks_for():
    keys = [key_made("K1", T0), key_made("OLD", T0)]
    text = ROTATED + "old: {id: OLD, status: DISABLED}\n"
    full = plan_at(T0 + 90 * DAY, keys, text=text)
    assert {c.action for c in full.changes} == {"key.rotate", "key.deactivate"}
    phases = rotation_phases(full)
    assert [c.action for c in phases.changes] == ["key.rotate"]
    phases.ensure_approved(ScheduledRotation(phases.plan_hash))
    with pytest.raises(UnsafePlanError, match="1 other change"):
        full.ensure_approved(ScheduledRotation(full.plan_hash))
    asked = plan_at(T0, keys, replace={"ci"})
    assert rotation_phases(asked).changes == []  # --replace-key needs a person, not a schedule


# --- end to end, on the served sandbox --------------------------------------------------------

FILE = """\
version: 1
organizations:
  acme:
    id: {org}
    members:
{members}
    api_keys:
      ci:
        deliver_to: [{{file: {{path: keys.jsonl}}}}]
        rotate: {{every: 90d, overlap: 7d}}
"""


def demo_with_a_rotating_key():
    """The demo sandbox, and a file beside it that lists its members as they are and one key,
    `ci`, rotated every 90 days with a 7-day overlap, delivered to keys.jsonl."""
    state = demo_state()
    org = state.organizations[DEMO_ORG_ID]
    members = "\n".join(
        f"      - {{user_id: {user_id}, role: {role}}}" for user_id, role in org.members.items()
    )
    Path("ideogram-org.yaml").write_text(FILE.format(org=DEMO_ORG_ID, members=members))
    return state, org


def delivered_key(folder: Path) -> str | None:
    """The key id the file sink holds for `ci`: its last line."""
    path = folder / "keys.jsonl"
    if not path.exists():
        return None
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["label"] == "ci"][-1]["api_key_id"]


def test_a_rotation_end_to_end_never_leaves_a_moment_without_an_active_delivered_key(
    tmp_path, monkeypatch
):
    """Day 0 the key is created; day 90 its successor is created and delivered, both ACTIVE;
    day 97 the predecessor is deactivated. After every write the sandbox accepts, the key the
    sink holds is ACTIVE."""
    monkeypatch.chdir(tmp_path)
    state, org = demo_with_a_rotating_key()
    moments: list[str] = []

    def every_write(changed) -> None:
        held = delivered_key(tmp_path)
        keys = changed.organizations[DEMO_ORG_ID].api_keys
        if held is not None:
            moments.append(keys[held].status)

    with served(state) as (sandbox, url):
        sandbox.on_change = every_write

        def on_day(day: int, *args: str):
            sandbox.state.clock_offset = day * 86400.0
            return cli(url, *args)

        assert on_day(0, "apply", "--auto-approve").exit_code == 0
        first = delivered_key(tmp_path)
        assert first is not None and org.api_keys[first].status == "ACTIVE"
        assert on_day(89, "plan", "--detailed-exitcode").exit_code == 0
        rotated = on_day(90, "apply", "--auto-approve")
        assert rotated.exit_code == 0, rotated.output
        second = delivered_key(tmp_path)
        assert second not in (None, first)
        assert (org.api_keys[first].status, org.api_keys[second].status) == ("ACTIVE", "ACTIVE")
        waiting = on_day(95, "plan", "--detailed-exitcode")
        assert waiting.exit_code == 0 and "phase 2 of 2, waiting" in waiting.output
        past = on_day(97, "drift", "--output", "json")
        assert past.exit_code == 2
        (retire,) = [
            d for d in json.loads(past.stdout)["differences"] if d["kind"] == "key.deactivate"
        ]
        assert first in retire["subject"] and "overlap ended" in retire["fix"]
        retired = on_day(97, "apply", "--auto-approve")
        assert retired.exit_code == 0, retired.output
        assert org.api_keys[first].status == "DISABLED"
        assert org.api_keys[second].status == "ACTIVE" and delivered_key(tmp_path) == second
        assert on_day(98, "plan", "--detailed-exitcode").exit_code == 0
    assert moments and set(moments) == {"ACTIVE"}
    text = Path("ideogram-org.yaml").read_text()
    assert f"id: {second}" in text and first not in text


def test_the_scheduled_rotation_leaves_other_differences_for_a_review(tmp_path, monkeypatch):
    """service.rotate (the Action's command rotate) makes the successor of a due key, and
    leaves the file's other differences alone."""
    monkeypatch.chdir(tmp_path)
    state, org = demo_with_a_rotating_key()
    with served(state) as (sandbox, url):
        assert cli(url, "apply", "--auto-approve").exit_code == 0
        first = delivered_key(tmp_path)
        Path("ideogram-org.yaml").write_text(
            Path("ideogram-org.yaml").read_text()
            + "      extra: {deliver_to: [{file: {path: x.jsonl}}]}\n"
        )
        sandbox.state.clock_offset = 91 * 86400.0
        monkeypatch.setenv("IDEOGRAM_TOKEN", TOKEN)
        with open_api(endpoint=url, writable=True) as client:
            options = service.ApplyOptions(store=None)
            phases, report = service.rotate(client, load_config("ideogram-org.yaml"), options)
    assert [c.action for c in phases.changes] == ["key.rotate"]
    assert not report.failed and delivered_key(tmp_path) != first
    assert not Path("x.jsonl").exists()  # the new key `extra` waits for a reviewed plan


@pytest.mark.slow
def test_a_predecessor_idle_for_a_day_while_its_successor_works_retires_early(
    tmp_path, monkeypatch
):
    """Two days into a seven-day overlap, the hourly usage of the last 24 hours shows the
    successor used and the predecessor not: the next apply deactivates the predecessor, with
    that reason; drift names it before."""
    monkeypatch.chdir(tmp_path)
    state, org = demo_with_a_rotating_key()
    with served(state) as (sandbox, url):
        assert cli(url, "apply", "--auto-approve").exit_code == 0
        first = delivered_key(tmp_path)
        sandbox.state.clock_offset = 90 * 86400.0
        assert cli(url, "apply", "--auto-approve").exit_code == 0
        second = delivered_key(tmp_path)
        org.usage.append(UsagePattern("key", second, 90, 200, 1, 400))  # used every day
        sandbox.state.clock_offset = 92 * 86400.0
        drift = cli(url, "drift", "--output", "json")
        retired = cli(url, "apply", "--auto-approve")
    assert drift.exit_code == 2
    found = json.loads(drift.stdout)["differences"]
    (difference,) = [d for d in found if d["kind"] == "key.deactivate"]
    assert first in difference["subject"] and "unused for 24 hours" in difference["fix"]
    assert retired.exit_code == 0, retired.output
    assert org.api_keys[first].status == "DISABLED" and org.api_keys[second].status == "ACTIVE"
