"""The HTML usage report in a real browser: Playwright driving Debian's chromium (.ci/run installs
it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reconciler.sandbox.demo import demo_state
from tests.scenario import cli, served

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRE_BROWSER_ENV = "IDEOGRAM_ORG_REQUIRE_BROWSER"
# What this machine's closed network needs (see the workplace notes): no background connections.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        missing = (
            f"no chromium at {CHROMIUM}: install Debian's chromium (.ci/run does) or set "
            "CHROMIUM_PATH"
        )
        if os.environ.get(REQUIRE_BROWSER_ENV):  # .ci/run: the browser test must run there
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.mark.parametrize("api_version", ["2025-10", "2026-06"])
def test_the_report_renders_its_chart_tables_and_gauge(browser, tmp_path, monkeypatch, api_version):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ideogram-org.yaml").write_text(
        (Path(__file__).resolve().parent.parent / "examples/acme/ideogram-org.yaml").read_text()
    )
    with served(demo_state(api_version)) as (_, url):
        html = cli(url, "usage", "--since", "60d", "--output", "html", "-o", "report.html")
        data = cli(url, "usage", "--since", "60d", "--output", "json")
    assert html.exit_code == 0 and data.exit_code == 0, html.output + data.output
    report = json.loads(data.stdout)
    acme = next(o for o in report["organizations"] if o["name"] == "acme")
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "report.html").as_uri())
    section = page.locator('section[data-organization="acme"]')
    chart = section.locator("svg.daily-chart")
    box = chart.bounding_box()
    assert box and box["width"] > 500 and box["height"] > 100
    bars = chart.locator("rect.bar")
    assert bars.count() > 30
    drawn = bars.evaluate_all(
        "rects => rects.map(r => [r.getBBox().width, r.getBBox().height, "
        "Number(r.dataset.cents), r.dataset.key])"
    )
    assert all(width > 0 for width, _, _, _ in drawn) and any(
        height > 10 for _, height, _, _ in drawn
    )
    assert sum(cents for _, _, cents, _ in drawn) == pytest.approx(
        acme["total"]
    )  # the picture is the numbers
    assert float(section.get_attribute("data-total-cents")) == pytest.approx(acme["total"])
    assert {"ci-pipeline", "marketing-batch"} <= {
        key for _, _, _, key in drawn
    }  # labels from the file
    groups = section.locator("table.groups td.amount[data-cents]")
    assert sum(
        float(v) for v in groups.evaluate_all("cells => cells.map(c => c.dataset.cents)")
    ) == pytest.approx(sum(g["amount"] for g in acme["groups"]))
    gauge = section.locator("svg.commit-gauge")
    assert gauge.count() == 1 and (gauge.bounding_box() or {}).get("width", 0) > 0
    spent = section.locator("svg.commit-gauge rect.spent").bounding_box()
    assert spent and spent["width"] > 0
    members = section.locator("table.members tr")
    assert members.count() == (len(acme["members"]) + 1 if api_version == "2026-06" else 0)
    if api_version == "2025-10":
        assert "does not report usage per person" in section.inner_text()
    page.screenshot(path=str(tmp_path / f"usage-{api_version}.png"), full_page=True)
    assert (tmp_path / f"usage-{api_version}.png").stat().st_size > 10_000
    assert all(u.startswith("file://") for u in requests)  # nothing from the network at view time
    page.close()


def test_names_from_the_server_are_text_not_markup(browser, tmp_path):
    from datetime import datetime, timezone

    from reconciler.model.usage import OrganizationReport, UsageReport
    from reconciler.render.usage_html import render_usage_html

    hostile = "<img src=x onerror=alert(1)>"
    org = OrganizationReport(
        name=hostile,
        organization_id="b3Jn",
        since="2026-11-01",
        until="2026-11-02",
        by="key",
        currency="USD",
        total=100,
        groups=[],
        keys=[],
        members=None,
        daily=[],
        commit=None,
    )
    (tmp_path / "r.html").write_text(
        render_usage_html(
            UsageReport(
                generated_at=datetime.now(timezone.utc).isoformat(),
                organizations=[org],
                usage_calls=1,
            )
        )
    )
    page = browser.new_page()
    page.goto((tmp_path / "r.html").as_uri())
    assert page.locator("img").count() == 0 and hostile in page.inner_text("h2")
    page.close()


def _attr(locator, name: str) -> list[str]:
    return locator.evaluate_all(f"nodes => nodes.map(n => n.getAttribute({name!r}))")


def _axis_scale(svg) -> tuple[float, float]:
    """The y-axis as drawn: (top amount, pixels per minor unit), checked tick by tick."""
    ticks = svg.locator("g.y-tick")
    cents = [float(v) for v in _attr(ticks, "data-cents")]
    ys = [
        float(v)
        for v in ticks.locator("line").evaluate_all("ls => ls.map(l => l.y1.baseVal.value)")
    ]
    top = float(svg.get_attribute("data-axis-top"))
    assert cents[0] == 0 and cents[-1] == top and len(cents) >= 2
    height = ys[0]  # the zero tick is the baseline
    for amount, y in zip(cents, ys, strict=True):
        assert y == pytest.approx(height - amount / top * height, abs=0.02)
    return top, height / top


@pytest.mark.parametrize("runs_out_early", [False, True])
def test_every_drawn_value_equals_the_json(browser, tmp_path, monkeypatch, runs_out_early):
    """The daily chart's y-axis, its bars (stacked in the legend's order, each with its value on
    hover), a key's daily budget line, and the burn-up's points, commit line and run-out date are
    each the number the JSON report gives."""
    from datetime import date, datetime, time, timedelta, timezone

    from reconciler.model.money import format_money

    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).resolve().parent.parent / "examples/acme/ideogram-org.yaml").read_text()
    text = text.replace(
        "        id: 3q2-7wAAQkKpYXNzd29yZA\n",
        "        id: 3q2-7wAAQkKpYXNzd29yZA\n        budget: {daily: 45, monthly: 900}\n",
    )
    (tmp_path / "ideogram-org.yaml").write_text(text)
    state = demo_state("2026-06")
    if runs_out_early:  # a commit the pace so far uses up before its end
        next(iter(state.organizations.values())).commit.amount_cents = 500_000
    with served(state) as (_, url):
        html = cli(url, "usage", "--since", "45d", "--output", "html", "-o", "report.html")
        data = cli(url, "usage", "--since", "45d", "--output", "json")
    assert html.exit_code == 0 and data.exit_code == 0, html.output + data.output
    acme = next(o for o in json.loads(data.stdout)["organizations"] if o["name"] == "acme")
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto((tmp_path / "report.html").as_uri())
    section = page.locator('section[data-organization="acme"]')

    daily = section.locator("svg.daily-chart")
    top, per_cent = _axis_scale(daily)
    labels = daily.locator("g.y-tick text").evaluate_all("ts => ts.map(t => t.textContent)")
    assert labels[-1] == format_money(top, "USD")
    assert top >= max(sum(d["by_key"].values()) for d in acme["daily"])
    bars = daily.locator("rect.bar").evaluate_all(
        "rs => rs.map(r => [r.dataset.day, r.dataset.key, Number(r.dataset.cents), "
        "r.getBBox().y, r.getBBox().height, r.querySelector('title').textContent])"
    )
    expected = {(d["day"], k): v for d in acme["daily"] for k, v in d["by_key"].items() if v}
    assert {(day, key): cents for day, key, cents, *_ in bars} == pytest.approx(expected)
    legend = section.locator(".legend .entry").evaluate_all("es => es.map(e => e.dataset.key)")
    for day, key, cents, _, height, title in bars:
        assert height == pytest.approx(cents * per_cent, abs=0.02)
        assert title == f"{day} {key}: {format_money(cents, 'USD')}"
    for day in {b[0] for b in bars}:
        stacked = sorted((b for b in bars if b[0] == day), key=lambda b: -b[3])  # bottom first
        order = [b[1] for b in stacked]
        assert order == [k for k in legend if k in order]
    budget = daily.locator("g.budget")
    assert _attr(budget, "data-key") == ["ci-pipeline"]
    (limit,) = [b["daily"] for b in acme["budgets"]]
    assert limit == 4500 and float(budget.get_attribute("data-cents")) == limit
    line_y = budget.locator("line").evaluate("l => l.y1.baseVal.value")
    assert line_y == pytest.approx((top - limit) * per_cent, abs=0.02)

    burn = acme["burn_up"]
    chart = section.locator("svg.burn-up")
    top, per_cent = _axis_scale(chart)
    start, end = (datetime.fromisoformat(burn[k]) for k in ("start", "end"))
    left = chart.locator("line.y-axis").evaluate("l => l.x1.baseVal.value")
    right = chart.locator("line.commit").evaluate("l => l.x2.baseVal.value")

    def x_of(moment: datetime) -> float:
        return left + (moment - start) / (end - start) * (right - left)

    points = chart.locator("circle.burn-point").evaluate_all(
        "cs => cs.map(c => [c.dataset.day, Number(c.dataset.cents), c.cx.baseVal.value, "
        "c.cy.baseVal.value])"
    )
    assert [(d, c) for d, c, _, _ in points] == [(p["day"], p["spent"]) for p in burn["points"]]
    for day, cents, x, y in points:
        day_end = datetime.combine(
            date.fromisoformat(day) + timedelta(days=1), time(0), timezone.utc
        )
        assert x == pytest.approx(x_of(day_end), abs=0.02)
        assert y == pytest.approx((top - cents) * per_cent, abs=0.02)
    assert points[-1][1] == pytest.approx(acme["commit"]["spent"])  # the line ends at today's spend
    commit_y = chart.locator("line.commit").evaluate("l => l.y1.baseVal.value")
    assert commit_y == pytest.approx((top - burn["commit"]) * per_cent, abs=0.02)
    assert section.locator(".run-out-date").inner_text() == burn["run_out"]
    assert burn["runs_out_early"] is runs_out_early
    marker = chart.locator("g.run-out")
    if runs_out_early:
        assert marker.get_attribute("data-day") == burn["run_out"]
        noon = datetime.combine(date.fromisoformat(burn["run_out"]), time(12), timezone.utc)
        marker_x = marker.locator("line").evaluate("l => l.x1.baseVal.value")
        assert marker_x == pytest.approx(x_of(noon), abs=0.02)
        assert marker.locator("text").text_content() == f"runs out {burn['run_out']}"
        assert date.fromisoformat(burn["run_out"]) < end.date()
    else:
        assert marker.count() == 0 and date.fromisoformat(burn["run_out"]) > end.date()
    page.close()
