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
