"""The usage report as one self-contained HTML file: inline SVG, inline CSS, no script, no network.

Jinja2 renders it with autoescaping on, so labels and emails from the file or the server are text,
never markup. The chart is drawn here, in Python, as plain SVG rectangles: each carries its day,
key and amount, so a test (and a curious reader) can check the picture against the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model.money import format_money
from ..model.usage import OrganizationReport, UsageReport
from .usage import commit_line

CHART_WIDTH, CHART_HEIGHT, MOST_KEYS = 900, 240, 8
PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
]


@dataclass(frozen=True)
class Bar:
    day: str
    key: str
    cents: float
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (label, colour)
    peak: float


def chart(org: OrganizationReport) -> Chart:
    """Daily spend stacked by key: the keys that spent most get their own colour, the rest
    'other'."""
    totals: dict[str, float] = {}
    for day in org.daily:
        for key, cents in day.by_key.items():
            totals[key] = totals.get(key, 0.0) + cents
    named = [key for key, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:MOST_KEYS]]
    colours = {key: PALETTE[i] for i, key in enumerate(named)}
    peak = max((sum(day.by_key.values()) for day in org.daily), default=0.0) or 1.0
    width = CHART_WIDTH / max(1, len(org.daily))
    bars = []
    for index, day in enumerate(org.daily):
        stacked = 0.0
        parts = {key: cents for key, cents in day.by_key.items() if key in colours}
        rest = sum(cents for key, cents in day.by_key.items() if key not in colours)
        if rest:
            parts["other"] = rest
        for key, cents in parts.items():
            height = cents / peak * CHART_HEIGHT
            stacked += height
            bars.append(
                Bar(
                    day=day.day,
                    key=key,
                    cents=cents,
                    x=index * width,
                    y=CHART_HEIGHT - stacked,
                    width=max(1.0, width - 1),
                    height=height,
                    colour=colours.get(key, PALETTE[-1]),
                )
            )
    legend = [(key, colours[key]) for key in named] + (
        [("other", PALETTE[-1])] if len(totals) > MOST_KEYS else []
    )
    return Chart(bars=bars, legend=legend, peak=peak)


def render_usage_html(report: UsageReport) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = format_money
    template = environment.get_template("usage.html.j2")
    return template.render(
        report=report,
        charts={o.organization_id: chart(o) for o in report.organizations},
        commit_line=commit_line,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )
