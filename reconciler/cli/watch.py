"""`ideogram-org watch`: keys over budget or spending far over their usual hour, and their
containment (only with --contain)."""

from __future__ import annotations

import sys

import click

from ..exit_codes import ExitCode
from . import common
from .common import api_options, config_option, err, handle_errors, org_option


@click.command()
@config_option
@org_option
@click.option(
    "--hours",
    type=click.IntRange(1, 168),
    default=1,
    show_default=True,
    help="How many of the last hours to judge (a schedule's interval).",
)
@click.option(
    "--contain",
    is_flag=True,
    help="Carry out what the budgets' action asks for (deactivate, rotate), through apply's "
    "limits and audit. Without it nothing is sent.",
)
@common.audit_log_option
@click.option(
    "--secrets-file",
    type=click.Path(dir_okay=False),
    help="Where a rotated key's secret goes when it has no deliver_to (mode 0600).",
)
@click.option(
    "--output", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True
)
@api_options
@handle_errors
def watch(
    config_path: str,
    orgs: tuple[str, ...],
    hours: int,
    contain: bool,
    audit_log: str,
    secrets_file: str | None,
    output: str,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
) -> None:
    """Judge the last hours of spend: exit 0 no finding, 2 findings, 1 error."""
    from .. import service
    from ..config.loader import load_config
    from ..render.registry import renderer
    from ..service.notify import notify_watch
    from ..service.state import open_store
    from ..service.watch import watch as run_watch

    config = load_config(config_path, max_bytes=common.max_file_size())
    options = service.ApplyOptions(
        audit_log=audit_log,
        secrets_file=secrets_file,
        api_version=api_version,
        progress=err,
        store=open_store(config, audit_log),
    )
    with common.connect(sandbox, endpoint, timeout, writable=contain) as client:
        watched = run_watch(client, config, orgs, hours, contain, options)
    click.echo(renderer("watch", output)(watched.report))
    notify_watch(config, options.state, watched.report, err)
    if any(c.outcome in ("refused", "failed") for c in watched.report.containment):
        sys.exit(ExitCode.ERROR)
    if watched.report.findings:
        sys.exit(ExitCode.CHANGES)
