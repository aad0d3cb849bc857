"""`ideogram-org state`: what the state store holds (key bindings, locks, the last runs and their
heads), breaking a dead run's lock on purpose, and moving a local log into a shared store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import defaults
from ..exit_codes import ExitCode
from . import common

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig
    from ..model.state import KeyBinding
    from ..store.state import Snapshot
from .common import err, handle_errors

RUNS_SHOWN = 10


def _config(config_path: str, required: bool = False) -> LoadedConfig | None:
    from ..config.loader import load_config

    if not required and not Path(config_path).exists():
        return None
    return load_config(config_path, max_bytes=common.max_file_size())


@click.group()
def state() -> None:
    """The state store shared by every machine that applies: bindings, locks, runs."""


@state.command("show")
@common.config_option
@common.audit_log_option
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def show(config_path: str, audit_log: str, output: str) -> None:
    """Key bindings, lock holders, and the last runs with their head hashes."""
    from ..service.state import open_store

    store = open_store(_config(config_path), audit_log)
    snapshot = store.snapshot()
    pending = snapshot.pending
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "store": snapshot.where,
                    "backend": "git" if snapshot.binds_keys else "local",
                    "head": pending.head,
                    "records": pending.records,
                    "problems": [str(p) for p in pending.problems],
                    "locks": [lock.as_json() for lock in snapshot.locks],
                    "bindings": [_binding_json(b) for b in pending.bindings.values()],
                    "runs": [vars(r) for r in pending.runs[-RUNS_SHOWN:]],
                },
                indent=2,
            )
        )
    else:
        _show_text(snapshot)
    if pending.problems:
        err(f"error: {snapshot.where}: the audit chain fails verification ({pending.problems[0]})")
        sys.exit(ExitCode.ERROR)


def _binding_json(binding: KeyBinding) -> dict[str, object]:
    return {**vars(binding), "deliveries": [dict(receipt) for receipt in binding.deliveries]}


def _show_text(snapshot: Snapshot) -> None:
    pending = snapshot.pending
    backend = "git" if snapshot.binds_keys else "local"
    click.echo(
        f"state: {snapshot.where} ({backend}); {pending.records} record(s), head {pending.head}"
    )
    click.echo("locks:" if snapshot.locks else "locks: none held")
    for lock in snapshot.locks:
        click.echo(f"  {lock.organization_id}: {lock.describe()}")
    click.echo("key bindings:" if pending.bindings else "key bindings: none on record")
    for binding in pending.bindings.values():
        made = f" (created {binding.created})" if binding.created else ""
        click.echo(f"  {binding.organization} {binding.label} = {binding.api_key_id}{made}")
        if binding.deliveries:
            sinks = ", ".join(dict(receipt).get("sink", "?") for receipt in binding.deliveries)
            click.echo(f"    delivered to {sinks}; secret {binding.fingerprint}")
        if binding.predecessor:
            click.echo(
                f"    replaces {binding.predecessor}, retiring until {binding.retiring_until}"
            )
    runs = pending.runs[-RUNS_SHOWN:]
    click.echo(f"last {len(runs)} run(s):" if runs else "runs: none finished")
    for run in runs:
        click.echo(
            f"  {run.ts} {run.run_id} {run.event} plan {run.plan_hash[:12]} by {run.actor}; "
            f"head {run.head}"
        )


@state.command("unlock")
@click.argument("run_id")
@common.config_option
@handle_errors
def unlock(run_id: str, config_path: str) -> None:
    """Break the locks a run holds (a runner killed mid-apply), on record with your name. The
    next apply settles what that run left."""
    from ..service.state import open_store
    from ..store.audit import current_actor

    store = open_store(_config(config_path, required=True), defaults.AUDIT_LOG)
    freed = store.unlock(run_id, current_actor())
    click.echo(
        f"{store.describe()}: broke the lock of run {run_id} on organization(s) "
        f"{', '.join(freed)}; recorded in the audit chain"
    )


@state.command("migrate")
@click.option("--to", "target", type=click.Choice(["git"]), required=True, help="The backend.")
@common.config_option
@common.audit_log_option
@click.option("--url", default=None, help="The git remote (default: the file's state.url).")
@click.option("--branch", default=None, help="The branch (default: the file's state.branch).")
@handle_errors
def migrate(
    target: str, config_path: str, audit_log: str, url: str | None, branch: str | None
) -> None:
    """Start a git state branch with the local audit log (its chain intact) and the key ids of the
    file as bindings. Then set `state: {backend: git}` in the file."""
    from ..config.models import StateConfig
    from ..errors import UsageError
    from ..service.state import open_store
    from ..store.audit import current_actor, verify_log
    from ..store.git_state import GitStore

    config = _config(config_path, required=True)
    assert config is not None
    configured = config.desired.state
    chosen = StateConfig(backend="git")
    if configured is not None and configured.backend == "git":
        chosen = configured
    override = f"git:{url or chosen.url}#{branch or chosen.branch}"
    store = open_store(config, audit_log, override=override)
    assert isinstance(store, GitStore)
    log = Path(audit_log)
    content = log.read_bytes() if log.exists() else b""
    if content:
        found = verify_log(log)
        if found.problems or found.torn_tail is not None:
            why = found.problems[0] if found.problems else f"line {found.torn_tail} is torn"
            raise UsageError(
                f"{log}: the audit log fails verification ({why}); repair or look into it "
                "before moving it, nothing was moved"
            )
    bindings = [
        {"organization": org_name, "label": label, "api_key_id": spec.id}
        for org_name, org in config.desired.organizations.items()
        for label, spec in org.api_keys.items()
        if spec.id
    ]
    head = store.migrate(content, str(log), bindings, current_actor())
    click.echo(
        f"moved {log} ({len(content):,} bytes) and {len(bindings)} key binding(s) into "
        f"{store.describe()}; head {head}"
    )
    if configured is None or configured.backend != "git":
        err(f"next: set `state: {{backend: git}}` in {config.path} so every run uses the branch")
