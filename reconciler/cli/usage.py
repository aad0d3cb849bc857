"""`ideogram-org usage`: spend per key, member, tool, model or day; last use; the spend commit."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from ..exit_codes import ExitCode
from ..model.window import UsageWindow
from . import common
from .common import api_options, config_option, err, handle_errors, org_option


@click.command()
@config_option
@org_option
@click.option(
    "--since", default="30d", show_default=True, help="Start: 30d, a date, or an ISO date-time."
)
@click.option("--until", default=None, help="End (default: now): a date or an ISO date-time.")
@click.option(
    "--by",
    type=click.Choice(["key", "member", "tool", "model", "day", "cost-center"]),
    default="key",
    show_default=True,
    help="Group the spend by this.",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json", "csv", "html"]),
    default="text",
    show_default=True,
)
@click.option(
    "-o", "out_path", type=click.Path(dir_okay=False), help="Write the report to this file."
)
@click.option(
    "--alert-at",
    metavar="PERCENT",
    help="Exit 2 when an organization's projected spend reaches this "
    "share of its spend commit (e.g. 90%).",
)
@click.option(
    "--invoices",
    is_flag=True,
    help="Also read the monthly invoices of the window (API 2026-06) and compare each with the "
    "usage of its month; a difference over 1% is shown.",
)
@api_options
@handle_errors
@click.pass_context
def usage(
    ctx: click.Context,
    config_path: str,
    orgs: tuple[str, ...],
    since: str,
    until: str | None,
    by: str,
    output: str,
    out_path: str | None,
    alert_at: str | None,
    invoices: bool,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
) -> None:
    """Spend and last use, read-only. Keys are shown by their labels in the file when it exists."""
    from .. import service
    from ..config.loader import load_config
    from ..planning.usage import alert_share
    from ..render.registry import renderer
    from ..safe_files import write_atomic

    now = datetime.now(timezone.utc)
    window = UsageWindow.parse(since, until, now)
    threshold = alert_share(alert_at) if alert_at is not None else None
    explicit = ctx.get_parameter_source("config_path") != click.core.ParameterSource.DEFAULT
    config = (
        load_config(config_path, max_bytes=common.max_file_size())
        if explicit or Path(config_path).exists()
        else None
    )
    with common.connect(sandbox, endpoint, timeout) as reader:
        report = service.usage(
            reader,
            config,
            orgs,
            window.start,
            window.end,
            by,  # type: ignore[arg-type]
            now,
            api_version,
            progress=err,
            invoices=invoices,
        )
    del config  # the file's members (100,000) are not needed to draw the report: not held then
    text = renderer("usage", output)(report)
    if out_path:
        write_atomic(out_path, text, what="usage report", final_newline=True)
        err(f"usage report written to {out_path}")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    if threshold is not None:
        gaps = report.alarm_gaps()
        if gaps:
            for gap in gaps:
                err(f"error: --alert-at {alert_at} could not be judged: {gap}")
            sys.exit(ExitCode.ERROR)
        alerts = report.alert(threshold)
        for line in alerts:
            err(f"alert: {line}, at or over --alert-at {alert_at}")
        if alerts:
            sys.exit(ExitCode.CHANGES)
