"""`watch` against the served sandbox: a key whose hourly spend jumps 10x over its baseline (the
sandbox injects the spike) is reported (exit 2) and, with `action: deactivate` and --contain,
deactivated in that one run, on record, within max_key_deactivations; without --contain nothing
is sent. Budgets per key and per organization; the JSON matches its committed schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.store import add_spike
from tests.scenario import cli, served

ROOT = Path(__file__).resolve().parent.parent
CI_KEY = "3q2-7wAAQkKpYXNzd29yZA"


def desired(budget: str, policy: str = "", org_budget: str = "") -> str:
    return (
        "version: 1\n"
        "policy:\n"
        "  ignore_members: ['*@svc.acme.example']\n"
        "  anomaly: {factor: 5, baseline_days: 14, min_amount: 5}\n"
        f"{policy}"
        "organizations:\n"
        "  acme:\n"
        f"    id: {DEMO_ORG_ID}\n"
        f"{org_budget}"
        "    members:\n"
        "      - {email: dana.reyes@acme.example, role: OWNER}\n"
        "    api_keys:\n"
        "      ci-pipeline:\n"
        f"        id: {CI_KEY}\n"
        f"        budget: {budget}\n"
    )


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def watch_json(url: str, *args: str) -> tuple[int, dict]:
    result = cli(url, "watch", "--output", "json", *args)
    report = json.loads(result.stdout)
    schema = json.loads((ROOT / "schemas" / "watch.schema.json").read_text())
    jsonschema.validate(report, schema)
    return result.exit_code, report


def test_a_spike_is_reported_and_contained_only_with_contain(here):
    Path("ideogram-org.yaml").write_text(
        desired("{daily: 100000, action: deactivate}")  # a budget only the spike's key could see
    )
    state = demo_state()
    with served(state) as (sandbox, url):
        quiet, before = watch_json(url)
        assert (quiet, before["findings"]) == (0, []), before
        add_spike(sandbox.state, CI_KEY, factor=10, hours=1)
        found, report = watch_json(url)
        assert sandbox.write_requests == []  # no --contain: nothing sent
        contained, after = watch_json(url, "--contain")
        status = sandbox.state.organizations[DEMO_ORG_ID].api_keys[CI_KEY].status
        again, later = watch_json(url)
    assert found == 2
    [finding] = report["findings"]
    assert (finding["kind"], finding["key_label"], finding["action"]) == (
        "anomaly",
        "ci-pipeline",
        "deactivate",
    )
    assert finding["amount"] >= 5 * finding["baseline"] > 0
    assert CI_KEY not in json.dumps(report)  # the key is named by label and redacted form
    assert [(c["key_label"], c["outcome"]) for c in report["containment"]] == [
        ("ci-pipeline", "planned")
    ]
    assert contained == 2 and status == "DISABLED"
    assert [(c["key_label"], c["outcome"]) for c in after["containment"]] == [
        ("ci-pipeline", "done")
    ]
    records = [
        json.loads(line) for line in Path("ideogram-org.audit.jsonl").read_text().splitlines()
    ]
    deactivated = [r for r in records if "key.deactivate" in json.dumps(r)]
    assert deactivated and after["audit_head"]
    assert again == 0 and later["findings"] == []  # a DISABLED key is not watched


def test_containment_counts_against_max_key_deactivations(here):
    Path("ideogram-org.yaml").write_text(
        desired("{daily: 100000, action: deactivate}", policy="  max_key_deactivations: 0\n")
    )
    with served(demo_state()) as (sandbox, url):
        add_spike(sandbox.state, CI_KEY, factor=10, hours=1)
        code, report = watch_json(url, "--contain")
        assert sandbox.write_requests == []
    assert code == 1
    [containment] = report["containment"]
    assert containment["outcome"] == "refused" and "max_key_deactivations" in containment["detail"]


def test_budgets_per_key_and_per_organization_notify(here):
    """A daily budget of 0.01 USD is spent by any use; the organization's monthly too."""
    Path("ideogram-org.yaml").write_text(
        desired("{daily: 0.01, monthly: 0.01}", org_budget="    budget: {monthly: 0.01}\n")
    )
    with served(demo_state()) as (sandbox, url):
        add_spike(sandbox.state, CI_KEY, factor=1, hours=1)  # use today, at its usual size
        code, report = watch_json(url, "--contain")
        assert sandbox.write_requests == []  # notify only: nothing to contain
    kinds = {(f["scope"], f["kind"]) for f in report["findings"]}
    assert {("key", "budget.daily"), ("key", "budget.monthly")} <= kinds
    assert ("organization", "budget.monthly") in kinds
    assert code == 2 and report["containment"] == []
    daily = next(f for f in report["findings"] if f["kind"] == "budget.daily")
    assert daily["limit"] == 1 and daily["currency"] == "USD"  # 0.01 USD in cents
