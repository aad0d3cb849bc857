"""The JSON Schemas of the file and of every machine-readable output, as committed in `schemas/`."""

from __future__ import annotations

import json

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of the desired-state file."""
    from ..config.models import desired_state_json_schema

    click.echo(json.dumps(desired_state_json_schema(), indent=2))


@click.command("drift-schema")
def drift_schema() -> None:
    """Print the JSON Schema of `drift --output json`."""
    from ..model.drift import drift_json_schema

    click.echo(json.dumps(drift_json_schema(), indent=2))


@click.command("usage-schema")
def usage_schema() -> None:
    """Print the JSON Schema of `usage --output json`."""
    from ..model.usage import usage_json_schema

    click.echo(json.dumps(usage_json_schema(), indent=2))


@click.command("watch-schema")
def watch_schema() -> None:
    """Print the JSON Schema of `watch --output json`."""
    from ..model.watch import watch_json_schema

    click.echo(json.dumps(watch_json_schema(), indent=2))


@click.command("event-schema")
def event_schema() -> None:
    """Print the JSON Schema of the events a `notify: webhook` receives."""
    from ..model.events import event_json_schema

    click.echo(json.dumps(event_json_schema(), indent=2))


@click.command("plan-schema")
def plan_schema() -> None:
    """Print the JSON Schema of `plan --output json` and of plan files."""
    from ..model.plan import plan_json_schema

    click.echo(json.dumps(plan_json_schema(), indent=2))


@click.command("apply-schema")
def apply_schema() -> None:
    """Print the JSON Schema of `apply --output json`."""
    from ..model.report import apply_json_schema

    click.echo(json.dumps(apply_json_schema(), indent=2))


@click.command("audit-schema")
def audit_schema() -> None:
    """Print the JSON Schema of one record of the audit log."""
    from ..model.audit import audit_record_json_schema

    click.echo(json.dumps(audit_record_json_schema(), indent=2))
