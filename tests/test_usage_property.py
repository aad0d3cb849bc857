"""Property: any usage, spend-commit and credits answers the official schemas allow give a usage
report in every format, and a plan with both usage policies: never a traceback, totals that add
up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import service
from reconciler.api.client import ApiReader
from reconciler.render.usage import render_usage_csv, render_usage_json, render_usage_text
from reconciler.render.usage_html import render_usage_html
from tests.test_export_property import from_schema, response_schema

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
# date-times as servers write them: the spec's own examples use seven fractional digits, Z, or a
# bare date
MOMENTS = [
    "2026-11-20T00:00:00+00:00",
    "2026-11-20T00:00:00.0000000+00:00",
    "2026-11-21T00:00:00Z",
    "2026-11-22",
    "2026-05-10T00:00:00+00:00",
    "2027-05-09T23:59:59+00:00",
    "not a date",
]
ORG = {
    "type": "ENTERPRISE",
    "name": "acme",
    "organization_id": "b3Jn",
    "role": "OWNER",
    "api_keys": [],
    "max_num_inflight_requests_permitted": 2,
}


def _with_moments(value: Any, draw: st.DrawFn) -> Any:
    """Put date-times where the schema says format: date-time (the generator writes any text
    there)."""
    if isinstance(value, dict):
        return {
            k: (
                draw(st.sampled_from(MOMENTS))
                if k in ("segment_start", "segment_end", "commit_start_time", "commit_end_time")
                else _with_moments(v, draw)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_with_moments(v, draw) for v in value]
    return value


@st.composite
def answers(draw: st.DrawFn, version: str) -> dict[str, Any]:
    found = {
        name: _with_moments(draw(from_schema(response_schema(version, schema))), draw)
        for name, schema in (
            ("usage", "GetUsageInfoResponse"),
            ("commits", "SpendCommitInfoResponse"),
            ("credits", "GetUserCreditsResponse"),
        )
    }
    found["members"] = draw(from_schema(response_schema(version, "GetOrganizationMembersResponse")))
    return found


def _reader(version: str, found: dict[str, Any]) -> ApiReader:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/manage/api/profiles":
            return httpx.Response(200, json={"profiles": [ORG]})
        if path == "/manage/api/organization/members":
            return httpx.Response(200, json=found["members"])
        if path == "/manage/api/organization/api_keys":
            return (
                httpx.Response(404)
                if version == "2025-10"
                else httpx.Response(200, json={"api_keys": []})
            )
        if path == "/manage/api/usage":
            source = parse_qs(request.url.query.decode()).get("source", ["API"])[0]
            return httpx.Response(
                200, json=found["usage"] if source == "API" else {"usage_segments": []}
            )
        if path == "/manage/api/spend_commit":
            return httpx.Response(200, json=found["commits"])
        if path == "/manage/api/credits":
            return httpx.Response(200, json=found["credits"])
        return httpx.Response(404)

    return ApiReader("https://api.test", "token", transport=httpx.MockTransport(handle))


def _expected_totals(found: dict[str, Any]) -> dict[str, float]:
    """The sum of the rows per currency: two currencies are never added."""
    from reconciler.model.timestamps import parse_timestamp

    totals: dict[str, float] = {}
    for segment in found["usage"]["usage_segments"]:
        if parse_timestamp(segment["segment_start"]) is None:
            continue
        for row in segment["tool_usage"]:
            currency = row["amount"]["currency_code"]
            totals[currency] = totals.get(currency, 0.0) + row["amount"]["amount"]
    return totals


@pytest.mark.slow
@pytest.mark.parametrize("version", ["2025-10", "2026-06"])
def test_any_spec_valid_usage_answer_gives_a_report_in_every_format(version: str) -> None:
    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(answers(version))
    def check(found: dict[str, Any]) -> None:
        with _reader(version, found) as reader:
            report = service.usage(
                reader, None, (), NOW - timedelta(days=30), NOW, "key", NOW, api_version=version
            )
        expected = _expected_totals(found)
        totals = {org.currency: org.total for org in report.organizations}
        if expected:
            assert totals == pytest.approx(expected, nan_ok=False)
        else:
            assert [org.total for org in report.organizations] == [0.0]
        org = report.organizations[0]
        for render in (render_usage_text, render_usage_json, render_usage_csv, render_usage_html):
            assert render(report)
        if org.commit is not None:
            assert 0 < org.commit.elapsed_share <= 1

    check()


@pytest.mark.parametrize("version", ["2025-10", "2026-06"])
def test_any_spec_valid_usage_answer_gives_a_plan_with_the_usage_policies(version: str) -> None:
    from pathlib import Path

    from reconciler.config.loader import LoadedConfig, load_text

    desired = load_text(
        "version: 1\npolicy:\n  idle_keys: {after_days: 5, action: deactivate}\n"
        "  dormant_members: {after_days: 5, action: remove}\n  max_removals: 100%\n"
        "organizations:\n  acme:\n    members:\n      - {email: a@x.example, role: OWNER}\n",
        "f.yaml",
    )
    config = LoadedConfig(path=Path("f.yaml"), desired=desired, sha256="0" * 64)

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(answers(version))
    def check(found: dict[str, Any]) -> None:
        with _reader(version, found) as reader:
            plan = service.plan(reader, config, api_version=version, now=NOW).plan
        assert plan.usage is not None
        judged = {m.member.user_id for m in plan.usage.members}
        assert judged <= {c.member.user_id for c in plan.changes if c.action == "member.remove"}
        if version == "2025-10":
            assert plan.usage.not_evaluated and not plan.usage.dormant_members

    check()


@pytest.mark.parametrize("version", ["2025-10", "2026-06"])
def test_answers_shaped_like_the_spec_s_own_examples_are_read_and_counted(version: str) -> None:
    """The spec's examples break its schemas: a usage row without tool_type, a date-only segment,
    a commit with commit_spend_balance and no is_postpaid_commit. Each is read, and the report
    says how many there were; a segment that is no date at all is counted, never silently lost."""
    row = {
        "full_tool_name": "Generate",
        "amount": {"amount": 250, "currency_code": "USD"},
        "api_key_id": "a2V5",
    }
    found = {
        "members": {"members": []},
        "usage": {
            "usage_segments": [
                {"segment_start": "2026-11-20", "segment_end": "2026-11-21", "tool_usage": [row]},
                {
                    "segment_start": "2026-11-21t00:00:00.1z",
                    "segment_end": "x",
                    "tool_usage": [{**row, "tool_type": "GENERATE"}],
                },
                {"segment_start": "last tuesday", "segment_end": "x", "tool_usage": [row]},
            ]
        },
        "commits": {
            "commits": [
                {
                    "commit_spend_balance": {"currency_code": "USD", "amount": 7500},
                    "commit_amount": {"currency_code": "USD", "amount": 10000},
                    "commit_start_time": "2026-01-01T00:00:00+00:00",
                    "commit_end_time": "2026-12-31T23:59:59+00:00",
                }
            ]
        },
        "credits": {
            "total_spend": {"amount": 500, "currency_code": "USD"},
            "average_daily_spend": {"amount": 17, "currency_code": "USD"},
        },
    }
    with _reader(version, found) as reader:
        report = service.usage(
            reader, None, (), NOW - timedelta(days=30), NOW, "tool", NOW, api_version=version
        )
    org = report.organizations[0]
    assert org.total == 500 and {g.key: g.amount for g in org.groups} == {
        "unknown tool": 250,
        "GENERATE": 250,
    }
    assert org.commit is not None and org.commit.spent == 2500 and org.commit.postpaid is None
    notes = " ".join(org.notes)
    assert "1 usage row(s) had no tool_type" in notes
    assert "1 usage segment(s) had a start that is no date-time" in notes
    assert "commit_spend_balance" in notes
    assert "note: 1 usage row(s) had no tool_type" in render_usage_text(report)
