"""Usage, spend commits and credits: the sandbox's answers, the `usage` command, the usage policies.

Every sandbox answer here is checked against the official spec by the autouse fixture in conftest.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from reconciler import service
from reconciler.api.client import ApiReader
from reconciler.model.identity import normalise
from reconciler.model.usage import API_USE, WEB_APP
from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport, generate_state
from reconciler.sandbox.usage import TOOLS, day_of, rows
from tests.conftest import sandbox_http_client
from tests.scenario import cli, served

NOW = datetime.now(timezone.utc)


def _state(api_version: str, members: int = 40, keys: int = 12):
    state = generate_state(
        members=members, keys=keys, seed=21, org_name="acme", api_version=api_version
    )
    return state, next(iter(state.organizations.values()))


def _own_sums(state, org, start: datetime, end: datetime, by: str) -> dict[str, float]:
    """What the sandbox itself holds for the window, summed independently of the tool."""
    anchor = date.fromisoformat(state.usage_anchor)
    sums: dict[str, float] = defaultdict(float)
    for row in rows(org.usage, state.seed, day_of(anchor, start), day_of(anchor, end)):
        moment = datetime.combine(anchor + timedelta(days=row.day), time(row.hour), timezone.utc)
        if not start <= moment <= end:
            continue
        pattern = row.pattern
        if pattern.kind == "member" and state.api_version == "2025-10":
            continue  # 2025-10 reports API use only
        key = {
            "key": pattern.target if pattern.kind == "key" else WEB_APP,
            "member": normalise("email", pattern.target) if pattern.kind == "member" else API_USE,
            "tool": pattern.tool_type,
            "model": TOOLS[pattern.tool_type][1] or "(none)",
            "day": (anchor + timedelta(days=row.day)).isoformat(),
        }[by]
        if key is not None:
            sums[key] += row.cents
    return dict(sums)


@pytest.mark.parametrize("by", ["key", "member", "tool", "model", "day"])
def test_usage_totals_equal_the_sandboxs_own_sums(api_version, by):
    state, org = _state(api_version)
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state)))
    start = datetime.combine(NOW.date() - timedelta(days=45), time(0), timezone.utc)
    report = service.usage(reader, None, (), start, NOW, by, NOW)  # type: ignore[arg-type]
    found = report.organizations[0]
    if by == "member" and api_version == "2025-10":
        assert (
            found.groups == []
            and found.members is None
            and "does not report usage per person" in found.members_note
        )
        return
    assert {g.key: g.amount for g in found.groups} == pytest.approx(
        _own_sums(state, org, start, NOW, by)
    )
    assert sum(g.amount for g in found.groups) == pytest.approx(found.total)  # rows add up
    everything = _own_sums(state, org, start, NOW, "tool")
    assert found.total == pytest.approx(sum(everything.values()))
    # one usage call for the whole window on 2025-10; two on 2026-06 (API use, then web-app use)
    assert report.usage_calls == (1 if api_version == "2025-10" else 2)
    assert reader.calls["get_usage_info"] == report.usage_calls


def test_usage_filters_behave_as_the_spec_says(api_version, spec_checker):
    state, org = _state(api_version)
    keys = [p.target for p in org.usage if p.kind == "key"]
    start = (NOW - timedelta(days=20)).isoformat()
    with sandbox_http_client(Sandbox(state), spec_checker) as client:

        def rows_of(**params):
            answer = client.get(
                "/manage/api/usage",
                params={
                    "organization_id": org.organization_id,
                    "segment_by": "DAY",
                    "start_time": start,
                    **params,
                },
            )
            assert answer.status_code == 200, answer.text
            return [
                row for segment in answer.json()["usage_segments"] for row in segment["tool_usage"]
            ]

        everything = rows_of()
        assert everything and all(row.get("api_key_id") for row in everything)  # API use by default
        only = rows_of(api_key_ids=keys[:2])
        assert only and {row["api_key_id"] for row in only} <= set(keys[:2])
        generate = rows_of(tools=["GENERATE"])
        assert all(row["tool_type"] == "GENERATE" for row in generate)
        assert all(row.get("model_version") == "V_3_0" for row in rows_of(model_versions=["V_3_0"]))
        hourly = client.get(
            "/manage/api/usage",
            params={
                "organization_id": org.organization_id,
                "segment_by": "HOUR",
                "start_time": start,
            },
        ).json()
        assert sum(len(s["tool_usage"]) for s in hourly["usage_segments"]) == len(everything)
        assert len(hourly["usage_segments"]) > 24 * 20
        ended = rows_of(end_time=(NOW - timedelta(days=10)).isoformat())
        assert 0 < len(ended) < len(everything)
        if api_version == "2026-06":
            web = rows_of(source="APP")
            assert web and all(
                row.get("user_email_address") and "api_key_id" not in row for row in web
            )
        spend_commit = "/manage/api/spend_commit"
        default = client.get(spend_commit, params={"organization_id": org.organization_id}).json()
        assert default == {"commits": []}  # postpaid_only defaults to true: the prepaid one hides
        commits = client.get(
            spend_commit, params={"organization_id": org.organization_id, "postpaid_only": "false"}
        ).json()
        commit = commits["commits"][0]
        assert commit["is_postpaid_commit"] is False
        assert (
            0 < commit["commit_amount_spent"]["amount"] < commit["commit_amount"]["amount"]
        )  # part used
        credits = client.get(
            "/manage/api/credits",
            params={"organization_id": org.organization_id, "start_time": start},
        ).json()
        assert credits["total_spend"]["amount"] > 0
    assert spec_checker.checked >= 8


def test_the_history_is_the_same_for_the_same_seed():
    first, second = _state("2026-06")[1], _state("2026-06")[1]
    assert first.usage == second.usage and first.commit == second.commit
    kinds = {p.kind for p in first.usage}
    assert kinds == {"key", "member"}
    assert any(p.last_day < -90 for p in first.usage)  # idle for months
    active = [k for k in first.api_keys.values() if k.status == "ACTIVE"]
    assert len({p.target for p in first.usage if p.kind == "key"}) < len(active)  # some never used


# --- the command ----------------------------------------------------------------------------------


def test_alert_at_exits_2_when_the_projection_reaches_the_share(tmp_path, monkeypatch, api_version):
    monkeypatch.chdir(tmp_path)
    state, org = _state(api_version)
    with served(state) as (_, url):
        calm = cli(url, "usage", "--output", "json", "--alert-at", "99%")
        report = json.loads(calm.stdout)
        projected = report["organizations"][0]["commit"]["projected_share"]
        assert 0.5 < projected < 0.99 and calm.exit_code == 0
        alarmed = cli(url, "usage", "--output", "json", "--alert-at", "50%")
        assert alarmed.exit_code == 2 and "alert: acme: projected" in alarmed.stderr
        assert cli(url, "usage", "--alert-at", "ninety").exit_code == 1


def test_usage_labels_keys_from_the_file_and_writes_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state, org = _state("2026-06")
    busy = next(p.target for p in org.usage if p.kind == "key" and p.last_day == 0)
    uids = list(org.members)
    Path("ideogram-org.yaml").write_text(
        "version: 1\norganizations:\n  acme:\n    members:\n"
        + "".join(
            f"      - user_id: {uid}\n" + ("        role: OWNER\n" if i < 2 else "")
            for i, uid in enumerate(uids)
        )
        + f"    api_keys:\n      render-farm: {{id: {busy}}}\n"
    )
    with served(state) as (_, url):
        result = cli(url, "usage", "--output", "csv", "-o", "usage.csv")
    assert result.exit_code == 0, result.output
    written = Path("usage.csv").read_text()
    assert written.endswith("\n") and not written.endswith("\n\n")  # a text's own newline kept
    table = list(csv.DictReader(io.StringIO(written)))
    assert any(row["label"] == "render-farm" and row["key"] == busy for row in table)
    assert all(row["organization"] == "acme" for row in table)


def test_usage_refuses_a_window_that_ends_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with served(_state("2026-06")[0]) as (_, url):
        result = cli(url, "usage", "--since", "2026-01-10", "--until", "2026-01-01")
    assert result.exit_code == 1 and "is not before" in result.stderr


def test_usage_json_follows_the_committed_schema(tmp_path, monkeypatch, api_version):
    import subprocess
    import sys

    from reconciler.model.usage import usage_json_schema

    root = Path(__file__).resolve().parent.parent
    assert (
        json.loads((root / "schemas" / "usage.schema.json").read_text()) == usage_json_schema()
    ), "run `ideogram-org usage-schema > schemas/usage.schema.json`"
    monkeypatch.chdir(tmp_path)
    with served(_state(api_version)[0]) as (_, url):
        result = cli(url, "usage", "--by", "day", "--output", "json", "-o", "usage.json")
    assert result.exit_code == 0, result.output
    assert Path("usage.json").read_text().endswith("}\n")  # the file ends its last line
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--schemafile",
            str(root / "schemas" / "usage.schema.json"),
            "usage.json",
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_alarm_that_cannot_be_judged_exits_1_with_the_reason(tmp_path, monkeypatch):
    """A MEMBER's token gets 403 on usage: `--alert-at` must not stay green on what it never saw."""
    monkeypatch.chdir(tmp_path)
    state, org = _state("2026-06")
    org.members[state.caller_user_id] = "MEMBER"
    with served(state) as (_, url):
        plain = cli(url, "usage")
        alarm = cli(url, "usage", "--alert-at", "1%")
    assert plain.exit_code == 0 and "usage not readable" in plain.stdout
    assert alarm.exit_code == 1 and "Traceback" not in alarm.output
    assert "error: --alert-at 1% could not be judged: acme: usage not readable" in alarm.stderr


@pytest.mark.parametrize("poison", [b"NaN", b"1e999"])
def test_an_amount_that_is_no_number_is_refused_not_summed(tmp_path, monkeypatch, poison):
    """NaN (no JSON allows it) or 1e999 (valid JSON that reads as infinity) would make every
    comparison false or every sum infinite: refused, exit 1."""
    from reconciler.sandbox import Sandbox

    monkeypatch.chdir(tmp_path)
    state, org = _state("2026-06")
    original = Sandbox._usage

    def poisoned(self, query, body):
        response = original(self, query, body)
        response.body = re.sub(rb'"amount": ?(\d+)', b'"amount": ' + poison, response.body, count=1)
        return response

    monkeypatch.setattr(Sandbox, "_usage", poisoned)
    with served(state) as (_, url):
        result = cli(url, "usage", "--alert-at", "90%")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "does not have the expected shape" in result.stderr


def test_an_organization_whose_members_the_token_may_not_read_is_left_out_with_a_note(
    tmp_path, monkeypatch
):
    """A MEMBER's token may get 403 on the member list (the spec allows it): usage and export of
    every organization the token sees leave that one out with a word; naming it is an error."""
    monkeypatch.chdir(tmp_path)
    state, org = _state("2026-06")
    org.members[state.caller_user_id] = "MEMBER"
    state.members_need_owner = True
    with served(state) as (sandbox, url):
        usage = cli(url, "usage")
        exported = cli(url, "export")
        named = cli(url, "export", "--org", "acme")
    assert usage.exit_code == 0, usage.output
    assert "acme: left out, its member list is not readable (403); you are MEMBER" in usage.stdout
    assert exported.exit_code == 1 and "Traceback" not in exported.output  # nothing to export
    assert "nothing to export: acme: left out, its member list is not readable" in exported.stderr
    assert named.exit_code == 1 and "403" in named.stderr and "Traceback" not in named.output


def test_usage_by_cost_center_adds_up_to_the_sandboxs_own_sums(tmp_path, api_version):
    """Two keys and one member carry a cost center in the file; a team file's source gives one to
    another member; everything else is unassigned. The groups add up to the total, and each
    equals what the sandbox itself holds for the keys and people behind it."""
    from reconciler.config.loader import load_config
    from reconciler.model.usage import UNASSIGNED

    state, org = _state(api_version)
    keys = sorted(org.api_keys)
    emails = sorted(state.users[u].email_address for u in org.members)
    (tmp_path / "team.yaml").write_text(f"members:\n  - email: {emails[1]}\n")
    (tmp_path / "ideogram-org.yaml").write_text(
        "version: 1\npolicy: {min_owners: 0, prune_members: false}\norganizations:\n  acme:\n"
        f"    id: {org.organization_id}\n"
        "    members:\n"
        f"      - email: {emails[0]}\n        cost_center: design\n"
        "    sources:\n"
        "      - file: {path: team.yaml}\n        cost_center: research\n"
        "    api_keys:\n"
        f"      a:\n        id: {keys[0]}\n        cost_center: platform\n"
        f"      b:\n        id: {keys[1]}\n        cost_center: platform\n"
    )
    config = load_config(tmp_path / "ideogram-org.yaml")
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state)))
    start = datetime.combine(NOW.date() - timedelta(days=45), time(0), timezone.utc)
    report = service.usage(reader, config, (), start, NOW, "cost-center", NOW)
    found = report.organizations[0]
    groups = {g.key: g.amount for g in found.groups}
    by_key = _own_sums(state, org, start, NOW, "key")
    by_member = _own_sums(state, org, start, NOW, "member") if api_version == "2026-06" else {}
    expected = {
        "platform": by_key.get(keys[0], 0) + by_key.get(keys[1], 0),
        "design": by_member.get(normalise("email", emails[0]), 0),
        "research": by_member.get(normalise("email", emails[1]), 0),
    }
    expected[UNASSIGNED] = sum(_own_sums(state, org, start, NOW, "tool").values()) - sum(
        expected.values()
    )
    assert groups == pytest.approx({k: v for k, v in expected.items() if v})
    assert sum(groups.values()) == pytest.approx(found.total)


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    following = (month + timedelta(days=32)).replace(day=1)
    return (
        datetime.combine(month, time(0), timezone.utc),
        datetime.combine(following - timedelta(days=1), time(23, 59, 59), timezone.utc),
    )


def test_invoices_are_reconciled_with_the_usage_of_their_month(tmp_path):
    """Each invoice of the window is compared with the usage of its whole month, summed by the
    sandbox independently: months that agree match, a month billed 3% over its usage differs by
    exactly that (in the line without a key), and 0.5% over is within the 1% tolerance."""
    state, org = _state("2026-06")
    now = datetime.now(timezone.utc)
    last_month = (now.date().replace(day=1) - timedelta(days=1)).replace(day=1)
    before_that = (last_month - timedelta(days=1)).replace(day=1)
    used_last = sum(_own_sums(state, org, *_month_bounds(last_month), "tool").values())
    used_before = sum(_own_sums(state, org, *_month_bounds(before_that), "tool").values())
    assert used_last > 0 and used_before > 0
    org.invoice_adjustments = {
        f"{last_month:%Y-%m}": round(used_last * 0.03),
        f"{before_that:%Y-%m}": round(used_before * 0.005),
    }
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state)))
    start = datetime.combine(before_that + timedelta(days=3), time(0), timezone.utc)
    report = service.usage(reader, None, (), start, now, "key", now, invoices=True)
    checks = {c.month: c for c in report.organizations[0].invoices or []}
    assert set(checks) == {f"{m:%Y-%m}" for m in (before_that, last_month, now.date())}
    over = checks[f"{last_month:%Y-%m}"]
    assert over.used == pytest.approx(used_last) and over.status == "PENDING_PAYMENT"
    assert over.differs and over.difference == pytest.approx(round(used_last * 0.03))
    assert over.difference_share == pytest.approx(0.03, abs=0.001)
    assert [k.key for k in over.keys if k.differs] == ["(no key)"]
    within = checks[f"{before_that:%Y-%m}"]
    assert within.used == pytest.approx(used_before) and within.difference > 0
    assert not within.differs and within.status in ("PAID", "PENDING_PAYMENT")
    # the report's own window is not widened by the invoices' months
    assert report.organizations[0].since.startswith(start.date().isoformat())


def test_usage_invoices_says_what_differs_and_that_2025_10_has_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for api_version in ("2026-06", "2025-10"):
        state, org = _state(api_version)
        last_month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        org.invoice_adjustments = {f"{last_month:%Y-%m}": 250_000}
        with served(state) as (_, url):
            text = cli(url, "usage", "--since", "40d", "--invoices")
            data = cli(url, "usage", "--since", "40d", "--invoices", "--output", "json")
        assert text.exit_code == 0 and data.exit_code == 0, text.output
        found = json.loads(data.stdout)["organizations"][0]
        if api_version == "2026-06":
            assert f"{last_month:%Y-%m}" in text.stdout and "DIFFERS by 2,500.00 USD" in text.stdout
            assert any(c["differs"] for c in found["invoices"])
        else:
            assert found["invoices"] is None
            assert "--invoices needs API 2026-06" in text.stdout


def test_invoices_in_the_shape_of_the_specs_own_example_are_read_and_said(tmp_path):
    """The spec's path example says `status` and `invoice_paid_date` where its schema says
    `invoice_status` and `paid_date`: such an answer is read, and the report says how."""
    import httpx

    from reconciler.api.usage import read_invoices
    from tests.spec_check import spec_dict

    operation = spec_dict("2026-06")["paths"]["/manage/api/organization/list_invoices"]["get"]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert "status" in example["invoices"][0] and "invoice_status" not in example["invoices"][0]
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=example))
    reader = ApiReader("https://api.ideogram.test", "t0ken", transport=transport)
    invoices, notes = read_invoices(reader, "b3Jn")
    assert [(i.status, i.total, len(i.lines)) for i in invoices] == [("PAID", 15000, 2)]
    assert all(line.api_key_id is None for line in invoices[0].lines)
    assert any("`status`" in note for note in notes)


def test_invoices_the_token_may_not_read_leave_the_usage_report_standing(tmp_path, monkeypatch):
    """A 403 on list_organization_invoices (the spec lists it) is a note in the report, not the
    end of it: exit 0, usage in full, invoices null."""
    from reconciler.sandbox.faults import Faults

    monkeypatch.chdir(tmp_path)
    state, _ = _state("2026-06")
    faults = Faults(error_statuses=(403,), script={"list_organization_invoices": ("error",)})
    with served(state, faults) as (_, url):
        found = cli(url, "usage", "--since", "40d", "--invoices", "--output", "json")
    assert found.exit_code == 0, found.output
    org = json.loads(found.stdout)["organizations"][0]
    assert org["invoices"] is None and org["total"] > 0
    assert any(note.startswith("invoices not readable") for note in org["notes"])


def test_a_day_s_spend_under_one_name_is_added_never_overwritten() -> None:
    """Two keys under one name in the daily table (a key labelled "web app" beside web-app use,
    a key labelled with another key's id): their amounts are added, not one kept."""
    from reconciler.api.usage import UsageSums
    from reconciler.api.wire import SpendRow, UsagePrice
    from reconciler.model.usage import OrganizationUsage
    from reconciler.planning.usage import report

    sums = UsageSums()
    sums.add_rows(
        (date(2026, 11, 2), 0),
        [
            SpendRow(UsagePrice(100, "USD"), api_key_id="a2V5"),
            SpendRow(UsagePrice(20, "USD"), user_email_address="mei@acme.example"),
            SpendRow(UsagePrice(5, "USD"), api_key_id="b2V5"),
            SpendRow(UsagePrice(1, "USD"), api_key_id="c2V5"),
        ],
    )
    usage = OrganizationUsage(
        name="acme",
        organization_id="b3Jn",
        start=datetime(2026, 11, 2, tzinfo=timezone.utc),
        end=datetime(2026, 11, 2, 23, tzinfo=timezone.utc),
        uses=tuple(sums.uses.values()),
        per_person=True,
    )
    labels = {"a2V5": WEB_APP, "b2V5": "c2V5"}
    found = report(usage, "key", datetime(2026, 11, 3, tzinfo=timezone.utc), labels, [], [])
    assert found.daily[0].by_key == {WEB_APP: 120, "c2V5": 6}
    assert found.total == 126
