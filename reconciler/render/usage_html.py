"""The usage report as one self-contained HTML file: inline SVG, inline CSS, no script, no network.

Jinja2 renders it with autoescaping on, so labels and emails from the file or the server are text,
never markup. The charts are drawn here, in Python, as plain SVG: every bar, tick, budget line and
burn-up point carries the value it stands for (data attributes, and a `<title>` a browser shows on
hover), so a test (and a curious reader) can check the picture against the numbers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from ..model.money import format_money
from ..model.usage import BurnUp, OrganizationReport, UsageReport
from .usage import commit_line

CHART_WIDTH, CHART_HEIGHT, MOST_KEYS = 900, 240, 8
AXIS_LEFT = 90  # room for the y-axis' amounts, left of the plot
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
OTHER = "other"


@dataclass(frozen=True)
class Tick:
    cents: float
    y: float


@dataclass(frozen=True)
class Axis:
    """A y-axis from 0 to `top` (a round amount), and where an amount lands on it."""

    top: float
    ticks: list[Tick]

    def y(self, cents: float) -> float:
        return CHART_HEIGHT - cents / self.top * CHART_HEIGHT


def axis_for(highest: float, steps: int = 4) -> Axis:
    """Round ticks (1, 2 or 5 times a power of ten) covering `highest`; an amount no float can
    hold (a hostile answer's) gets the largest axis one can."""
    highest = 1.0 if math.isnan(highest) else min(max(highest, 1.0), sys.float_info.max / 20)
    raw = highest / steps
    power = 10.0 ** math.floor(math.log10(raw))
    step = next((m * power for m in (1.0, 2.0, 5.0) if m * power >= raw), 10.0 * power)
    count = max(1, math.ceil(highest / step))
    top = step * count
    return Axis(
        top=top,
        ticks=[
            Tick(cents=n * step, y=CHART_HEIGHT - n * step / top * CHART_HEIGHT)
            for n in range(count + 1)
        ],
    )


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
class BudgetLine:
    label: str
    cents: float
    y: float
    colour: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    legend: list[tuple[str, str]]  # (label, colour), in stacking order: the bottom of a bar first
    axis: Axis
    budgets: list[BudgetLine]


def chart(org: OrganizationReport) -> Chart:
    """Daily spend stacked by key, the key that spent most at the bottom: the keys that spent most
    get their own colour, the rest are 'other', on top; each key's daily budget is a line."""
    totals: dict[str, float] = {}
    for day in org.daily:
        for key, cents in day.by_key.items():
            totals[key] = totals.get(key, 0.0) + cents
    named = [key for key, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:MOST_KEYS]]
    colours = {key: PALETTE[i] for i, key in enumerate(named)}
    peak = max((sum(day.by_key.values()) for day in org.daily), default=0.0)
    limits = [b for b in org.budgets if b.daily is not None]
    axis = axis_for(max([peak, *(b.daily or 0.0 for b in limits)]))
    width = CHART_WIDTH / max(1, len(org.daily))
    bars = []
    for index, day in enumerate(org.daily):
        parts = [(key, day.by_key[key]) for key in named if day.by_key.get(key)]
        rest = sum(cents for key, cents in day.by_key.items() if key not in colours)
        if rest:
            parts.append((OTHER, rest))
        stacked = 0.0
        for key, cents in parts:
            height = cents / axis.top * CHART_HEIGHT
            stacked += height
            bars.append(
                Bar(
                    day=day.day,
                    key=key,
                    cents=cents,
                    x=AXIS_LEFT + index * width,
                    y=CHART_HEIGHT - stacked,
                    width=max(1.0, width - 1),
                    height=height,
                    colour=colours.get(key, PALETTE[-1]),
                )
            )
    legend = [(key, colours[key]) for key in named] + (
        [(OTHER, PALETTE[-1])] if len(totals) > MOST_KEYS else []
    )
    budgets = [
        BudgetLine(
            label=b.label,
            cents=b.daily,
            y=axis.y(b.daily),
            colour=colours.get(b.label, "#333"),
        )
        for b in limits
        if b.daily is not None
    ]
    return Chart(bars=bars, legend=legend, axis=axis, budgets=budgets)


@dataclass(frozen=True)
class Point:
    day: str
    cents: float
    x: float
    y: float


@dataclass(frozen=True)
class BurnChart:
    axis: Axis
    commit_y: float
    points: list[Point]
    projection: tuple[float, float, float, float]  # x1, y1, x2, y2: the pace so far, to the end
    run_out_x: float | None  # where the commit runs out, when that is before its end
    burn: BurnUp


def burn_chart(burn: BurnUp) -> BurnChart:
    """Spend so far (each day's point at the day's end) against the commit over its period; the
    pace so far drawn on to the period's end."""
    start, end = datetime.fromisoformat(burn.start), datetime.fromisoformat(burn.end)
    length = max((end - start).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        share = min(max((moment - start).total_seconds() / length, 0.0), 1.0)
        return AXIS_LEFT + share * CHART_WIDTH

    at_end = burn.per_day * length / 86_400
    axis = axis_for(max(burn.commit, at_end, *(p.spent for p in burn.points)))
    points = [
        Point(
            day=p.day,
            cents=p.spent,
            x=x_of(day_end(p.day)),
            y=axis.y(p.spent),
        )
        for p in burn.points
    ]
    last = points[-1] if points else Point(burn.start[:10], 0.0, AXIS_LEFT, CHART_HEIGHT)
    run_out = (
        x_of(datetime.combine(date.fromisoformat(burn.run_out), time(12), timezone.utc))
        if burn.run_out and burn.runs_out_early
        else None
    )  # drawn at the middle of its (UTC) day
    return BurnChart(
        axis=axis,
        commit_y=axis.y(burn.commit),
        points=points,
        projection=(last.x, last.y, AXIS_LEFT + CHART_WIDTH, axis.y(at_end)),
        run_out_x=run_out,
        burn=burn,
    )


def day_end(day: str) -> datetime:
    """The end of a UTC day: the next day's midnight."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), timezone.utc)


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
        burns={o.organization_id: burn_chart(o.burn_up) for o in report.organizations if o.burn_up},
        commit_line=commit_line,
        left=AXIS_LEFT,
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
    )
