"""The commands. Thin on purpose: each parses options, chooses an approval where it applies,
calls the service layer and renders. Exit codes are `ExitCode`'s (exit_codes.py); data goes to
stdout, messages to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import __version__, defaults
from ..errors import ConfigError, Declined, UsageError
from ..exit_codes import ExitCode
from ..safe_files import write_atomic
from . import common
from .common import (
    api_options,
    config_option,
    err,
    full_option,
    handle_errors,
    org_option,
    output_option,
    warn_all,
)

if TYPE_CHECKING:
    from ..config.loader import LoadedConfig
    from ..model.drift import DriftReport
    from ..model.plan import Approval, Plan
    from ..model.report import Report
    from ..service import Planned
    from ..store.audit import Verification
    from ..store.state import StateStore


@click.group(cls=common.Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ideogram-org")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Org-as-code for Ideogram enterprise organizations.

    Keep members, owners and API keys in a YAML file; `plan` shows what would change, `apply` does
    it.
    """
    if ctx.invoked_subcommand != "sandbox":
        # A command is short and its data (a file, an organization: millions of objects at 1,000,000
        # members) is acyclic: the cycle collector's full passes over it cost a third of a plan's
        # time there, and find nothing. Reference counting still frees everything. The long-running
        # `sandbox serve` keeps the collector.
        gc.disable()
        ctx.call_on_close(gc.enable)


def _load(config_path: str) -> LoadedConfig:
    from ..config.loader import load_config

    return load_config(config_path, max_bytes=common.max_file_size())


@main.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@config_option
@output_option("text", "json")
@handle_errors
def validate(files: tuple[str, ...], config_path: str, output: str) -> None:
    """Check desired-state files (FILES, else -c); report every problem with FILE:LINE:COL.

    Reads no organization and needs no token, so it suits pre-commit and editors.
    """
    from ..config.team_file import team_file_problems

    problems: list[dict[str, str | int]] = []
    for path in files or (config_path,):
        try:
            loaded = _load(path)
            found = team_file_problems(loaded.desired, loaded.path)  # each team file in scope
            if found:
                raise ConfigError(found)
        except ConfigError as exc:
            problems += [p.as_dict() for p in exc.problems]
            for problem in exc.problems:
                err(str(problem))
            continue
        warn_all(str(w) for w in loaded.warnings)
        orgs = loaded.desired.organizations
        err(
            f"{path}: valid ({len(orgs)} organization(s), "
            f"{sum(len(o.members) for o in orgs.values())} member(s))"
        )
    if output == "json":
        click.echo(json.dumps(problems, indent=2))
    if problems:
        err(f"error: {len(problems)} problem(s) in the desired-state file(s)")
        sys.exit(ExitCode.ERROR)


@main.command()
@config_option
@org_option
@output_option("text", "json", "markdown")
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False), help="Save the plan for `apply PLANFILE`."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors."
)
@full_option
@common.audit_log_option
@common.replace_key_option
@api_options
@handle_errors
def plan(
    config_path: str,
    orgs: tuple[str, ...],
    output: str,
    out_path: str | None,
    detailed_exitcode: bool,
    full: bool,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
    audit_log: str,
    replace_keys: tuple[str, ...],
) -> None:
    """Show what apply would change, without changing anything."""
    from .. import service
    from ..render.plan import render_text
    from ..render.registry import renderer
    from ..service.keys import parse_replace
    from ..service.state import open_store
    from ..store.plan_file import save_plan

    config = _load(config_path)  # a broken file fails before any token or network is needed
    replace = parse_replace(replace_keys, config)
    with common.connect(sandbox, endpoint, timeout) as reader:
        store = open_store(config, audit_log)
        planned = service.plan_with_state(reader, config, orgs, api_version, err, store, replace)
    warn_all(planned.warnings)
    result = planned.plan
    _tell(config, store, plan=result)
    if output == "text":
        click.echo(render_text(result, colour=common.colour(), full=full), color=common.colour())
    else:
        click.echo(renderer("plan", output)(result))
    if out_path:
        save_plan(result, out_path)
        err(f"plan saved to {out_path}")
    where = common.target_args(sandbox)
    if not result.safe:
        err(
            "error: the plan is unsafe (see the top of the plan); apply will refuse it.\nNext: "
            "change the file, or "
            f"approve exactly this plan: {common.prog()} apply "
            f"{where}{out_path or common.config_args()} "
            f"--allow-unsafe {result.plan_hash[:12]}"
        )
        sys.exit(ExitCode.ERROR)
    if output == "text" or out_path:
        err(_next_step(result, sandbox, where, out_path))
    if detailed_exitcode and result.has_differences:
        sys.exit(ExitCode.CHANGES)


def _next_step(result: Plan, sandbox: bool, where: str, out_path: str | None) -> str:
    from ..model.changes import NewKeyChange

    if not result.changes:
        return "Nothing to apply." + (
            "" if not result.blocked else " Blocked items need a person (see above)."
        )
    # a new key's secret is shown once: apply needs a place for a key with no deliver_to
    secrets = (
        " --secrets-file new-keys.jsonl"
        if any(isinstance(c, NewKeyChange) and not c.deliver_to for c in result.changes)
        else ""
    )
    if out_path:
        step = (
            f"Next: {common.prog()} apply {where}{out_path}{secrets}   (applies exactly this "
            "plan, or refuses if it went stale)"
        )
    else:
        args = f"{common.config_args()}{secrets}".strip()
        step = (
            f"Next: {common.prog()} apply {where}{args}   (shows this plan again and asks for yes)"
        )
    if sandbox:
        step += (
            f"\nAgainst the real API: export {defaults.TOKEN_ENV}=<a management token of an "
            "OWNER> and run the "
            f"same command without --sandbox."
        )
    return step


@main.command()
@org_option
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Write the file here instead of stdout.",
)
@api_options
@handle_errors
def export(
    orgs: tuple[str, ...],
    out_path: str | None,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
) -> None:
    """Write the live organization(s) as a desired-state file that plans to no changes."""
    from .. import service

    with common.connect(sandbox, endpoint, timeout) as reader:
        exported = service.export(reader, orgs, api_version, progress=err)
    warn_all(f"warning: {line}" for line in exported.warnings)
    text = exported.text
    if out_path:
        write_atomic(out_path, text, what="exported file")
        err(f"exported to {out_path}")
    else:
        click.echo(text, nl=False)


@main.command()
@config_option
@org_option
@output_option("text", "json", "markdown")
@common.audit_log_option
@api_options
@handle_errors
def drift(
    config_path: str,
    orgs: tuple[str, ...],
    output: str,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
    audit_log: str,
) -> None:
    """Report where the live organization differs from the file. Read-only. Exit 0 in sync, 2
    drift."""
    from .. import service
    from ..render.registry import renderer
    from ..service.state import open_store

    config = _load(config_path)
    with common.connect(sandbox, endpoint, timeout, writable=False) as reader:
        store = open_store(config, audit_log)
        result = service.drift(reader, config, orgs, api_version, err, store)
    warn_all(result.planned.warnings)
    click.echo(renderer("drift", output)(result.report))
    _tell(config, store, drift=result.report)
    if result.report.drifted:
        sys.exit(ExitCode.CHANGES)


# --- applying -------------------------------------------------------------------------------------


def _confirm(plan: Plan) -> None:
    """Ask, as Terraform does, for the word `yes`: a stray `y` applies nothing irreversible."""
    if not common.stdin_is_terminal():
        raise UsageError(
            "no terminal to confirm on: review the plan, then pass --auto-approve, or "
            "save it with `plan --out FILE` and run `apply FILE`"
        )
    irreversible = sum(1 for c in plan.changes if getattr(c, "irreversible", False))
    note = f", {irreversible} of them irreversible" if irreversible else ""
    answer = click.prompt(
        f"Apply these {len(plan.changes)} change(s){note}? Only 'yes' is accepted",
        default="",
        show_default=False,
        err=True,
    )
    if answer.strip() != "yes":
        raise Declined("Nothing was applied.")


@main.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@config_option
@org_option
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal)."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the exact calls that would be sent; send no write."
)
@click.option(
    "--allow-unsafe",
    metavar="PLAN_HASH",
    help="Approve this unsafe plan, named by its hash (8+ chars).",
)
@common.audit_log_option
@click.option(
    "--secrets-file",
    type=click.Path(dir_okay=False),
    help="Where the secrets of new keys without deliver_to go (mode 0600).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 10_000),
    default=defaults.CHUNK_SIZE,
    show_default=True,
    help="Members per add/promote/remove call.",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(0, 86_400),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for another apply of the same organization to finish, then give up.",
)
@common.replace_key_option
@output_option("text", "json")
@full_option
@api_options
@handle_errors
@click.pass_context
def apply(
    ctx: click.Context,
    plan_file: str | None,
    config_path: str,
    orgs: tuple[str, ...],
    auto_approve: bool,
    dry_run: bool,
    allow_unsafe: str | None,
    audit_log: str,
    secrets_file: str | None,
    chunk_size: int,
    lock_timeout: float,
    replace_keys: tuple[str, ...],
    output: str,
    full: bool,
    sandbox: bool,
    endpoint: str | None,
    api_version: str,
    timeout: float,
) -> None:
    """Carry out a plan: from the file (after a y/N), or exactly a saved PLAN_FILE."""
    from .. import service
    from ..model.report import ApplyInterrupted, NothingToApply
    from ..service.keys import parse_replace
    from ..service.state import open_store
    from ..store.plan_file import load_plan

    options = service.ApplyOptions(
        audit_log=audit_log,
        chunk_size=chunk_size,
        secrets_file=secrets_file,
        dry_run=dry_run,
        api_version=api_version,
        progress=err,
        lock_timeout=lock_timeout,
    )
    saved = load_plan(plan_file) if plan_file else None
    if saved is not None:
        explicit = ctx.get_parameter_source("config_path") not in (
            None,
            click.core.ParameterSource.DEFAULT,
        )
        config = _load(config_path if explicit else saved.desired_file)
    else:
        config = _load(config_path)
    if saved is not None and replace_keys:
        raise UsageError(
            "--replace-key goes with `plan --out`, not with a saved plan: it is in the plan"
        )
    options = dataclasses.replace(
        options,
        store=open_store(config, audit_log),
        replace=parse_replace(replace_keys, config),
    )
    with (
        common.connect(sandbox, endpoint, timeout, writable=True) as client,
        contextlib.ExitStack() as after_review,
    ):
        progress = _CallProgress(after_review, options.stop, err)
        options = dataclasses.replace(options, on_call=progress)
        try:
            if saved is not None:

                def rechecked(found: Planned) -> None:
                    warn_all(found.warnings)
                    progress.start()

                report: Report | tuple[Planned, Report] = service.apply_saved(
                    client, saved, config, options, _approval(allow_unsafe), rechecked
                )
            else:
                # with --output json, stdout holds the JSON report alone: the plan goes to stderr
                confirmed = _Review(
                    allow_unsafe, dry_run, auto_approve, full, progress, output == "json"
                )
                report = service.apply_config(client, config, orgs, options, confirmed.review)
        except ApplyInterrupted as interrupted:
            _finish_apply(interrupted.report, output, full, interrupted=True)
            return
    if isinstance(report, tuple):  # apply_config: the plan it made under the lock, and the run
        planned, report = report
    if isinstance(report, NothingToApply):
        _nothing_to_apply(planned.plan, output, dry_run)
        return
    _tell(config, options.state, applied=report)
    _finish_apply(report, output, full)


def _progress_line(done: int, planned: int, what: str) -> str | None:
    from ..execution.program import progress_line

    return progress_line(done, planned, what)


def _approval(allow_unsafe: str | None) -> Approval:
    """What the user approved on the command line: `--allow-unsafe HASH`, or only a safe plan."""
    from ..model.plan import AllowUnsafe, NoApproval

    return AllowUnsafe(allow_unsafe) if allow_unsafe else NoApproval()


class _Review:
    """What `apply -c` does with the plan it made under the lock: show it, judge it, ask."""

    def __init__(
        self,
        allow_unsafe: str | None,
        dry_run: bool,
        auto_approve: bool,
        full: bool,
        progress: _CallProgress,
        to_stderr: bool,
    ) -> None:
        self.approval = _approval(allow_unsafe)
        self.dry_run, self.auto_approve, self.full = dry_run, auto_approve, full
        self.progress, self.to_stderr = progress, to_stderr

    def review(self, planned: Planned) -> Approval:
        from ..render.plan import render_text

        # the plan goes where the results go (stdout), unless stdout is for JSON alone
        stream = sys.stderr if self.to_stderr else sys.stdout
        colour = common.colour(stream)
        text = render_text(planned.plan, colour=colour, full=self.full)
        click.echo(text, err=self.to_stderr, color=colour)
        warn_all(planned.warnings)
        planned.plan.ensure_approved(self.approval)  # before asking: it would be refused anyway
        if planned.plan.changes and not self.dry_run and not self.auto_approve:
            _confirm(planned.plan)
        self.progress.start()
        return self.approval


class _CallProgress:
    """The progress of write calls, shown once the plan was confirmed: a bar on a terminal, else
    lines; the first Ctrl-C from then on stops new calls and lets those in flight finish."""

    def __init__(
        self, stack: contextlib.ExitStack, stop: threading.Event, lines: Callable[[str], None]
    ) -> None:
        self.stack, self.stop, self.lines = stack, stop, lines
        self.bar: Callable[[int, int, str], None] | None = None

    def start(self) -> None:
        """Called on the main thread once the plan is confirmed (signals are caught there)."""
        self.stack.enter_context(common.graceful_stop(self.stop))
        self.bar = self.stack.enter_context(common.call_progress())

    def __call__(self, done: int, planned: int, what: str) -> None:
        if self.bar is not None:
            self.bar(done, planned, what)
        elif (line := _progress_line(done, planned, what)) is not None:
            self.lines(line)


def _nothing_to_apply(plan: Plan, output: str, dry_run: bool) -> None:
    from ..model.changes import ChangeBlocked
    from ..model.report import NothingToApply
    from ..render.apply import blocked_line, render_apply_json

    err("Nothing to apply." + (f" {blocked_line(len(plan.blocked))}" if plan.blocked else ""))
    if output == "json":
        nothing = NothingToApply(
            plan_hash=plan.plan_hash, blocked=len(plan.blocked), dry_run=dry_run
        )
        click.echo(render_apply_json(nothing))
    if any(isinstance(item, ChangeBlocked) for item in plan.blocked):
        # the caller may change nothing here: what was asked cannot be done
        sys.exit(ExitCode.ERROR)


def _tell(
    config: LoadedConfig,
    store: StateStore,
    *,
    plan: Plan | None = None,
    drift: DriftReport | None = None,
    applied: Report | None = None,
) -> None:
    """Notifications of what the command found or did: never its exit code's business."""
    if not config.desired.notify:
        return
    from ..service import notify

    if plan is not None:
        notify.notify(config, store, notify.plan_events(plan), err)
    if drift is not None:
        notify.notify_drift(config, store, drift, err)
    if applied is not None:
        notify.notify_applied(config, store, applied, err)


def _finish_apply(report: Report, output: str, full: bool, interrupted: bool = False) -> None:
    from ..model.report import ApplyReport
    from ..render.apply import render_apply_json, render_apply_text

    click.echo(render_apply_json(report) if output == "json" else render_apply_text(report, full))
    if isinstance(report, ApplyReport) and report.new_key_ids and report.wrote_back:
        err(f"wrote {len(report.new_key_ids)} new key id(s) into the desired file; commit it")
    if interrupted:
        not_sent = report.not_sent if isinstance(report, ApplyReport) else 0
        err(
            f"Interrupted: the calls above were sent and are on record; {not_sent} change(s) were "
            "not sent. Plan "
            f"again to see what is left."
        )
        sys.exit(ExitCode.INTERRUPTED)
    if report.failed:
        sys.exit(ExitCode.ERROR)


@main.group()
def audit() -> None:
    """The audit log of apply runs."""


@audit.command("verify")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--head",
    "head",
    metavar="HASH",
    help="A head hash apply printed: exit 1 unless the chain still "
    "holds that record (catches records cut off the end).",
)
@click.option(
    "--state",
    "from_state",
    is_flag=True,
    help="Verify the chain of the state store the file names (the default without PATH when "
    "its state is git, or IDEOGRAM_ORG_STATE says so).",
)
@config_option
@handle_errors
def audit_verify(path: str | None, head: str | None, from_state: bool, config_path: str) -> None:
    """Check the hash chain (and HMACs with IDEOGRAM_AUDIT_KEY); name torn tails, unfinished runs,
    writes whose outcome is unknown, and the writes later runs settled."""
    from ..service.state import open_store, state_config
    from ..store.audit import verify_log

    config = _load(config_path) if Path(config_path).exists() else None
    if path is None and (from_state or state_config(config).backend == "git"):
        snapshot = open_store(config, defaults.AUDIT_LOG).snapshot()
        _report_verification(snapshot.pending, snapshot.where, head)
        return
    path = path or defaults.AUDIT_LOG
    if not Path(path).exists() and head:
        raise UsageError(
            f"{path}: no audit log, yet a head was recorded: the log was deleted or moved"
        )
    _report_verification(verify_log(path), path, head)


def _report_verification(found: Verification, where: str, head: str | None) -> None:
    for problem in found.problems:
        err(f"{where}: {problem}")
    for run in found.unfinished_runs:
        err(
            f"{where}: warning: run {run} started and never ended (a crash or a kill); the next "
            "apply settles it"
        )
    for intent in found.unknown_outcomes:
        err(
            f"{where}: warning: unknown outcome of {intent.get('action')} in "
            f"{intent.get('organization')} "
            f"({', '.join(map(str, intent.get('targets', [])))}): sent, never answered on record"
        )
    for settled in found.settled:
        err(
            f"{where}: settled: {settled.get('action')} in {settled.get('organization')} "
            f"(intent {str(settled.get('intent'))[:16]}): {settled.get('message')}"
        )
    failed = False
    if found.problems:
        err(
            f"error: {where}: the audit log was tampered with ({len(found.problems)} problem(s) "
            f"in {found.records} record(s))"
        )
        failed = True
    if found.torn_tail is not None:
        err(
            f"error: {where}: line {found.torn_tail} is a torn record (a crash or a full disk, "
            f"not tampering); seal it with `{common.prog()} audit repair {where}`"
        )
        failed = True
    if (
        head
        and not any(h.startswith(head) for h in found.hashes)
        or head is not None
        and len(head) < 8
    ):
        err(
            f"error: {where}: the record {head} is not in the chain: records were cut off the "
            "end, or the log was replaced"
        )
        failed = True
    if failed:
        sys.exit(ExitCode.ERROR)
    click.echo(f"{where}: {found.records} record(s), hash chain intact; head {found.head}")


@audit.command("repair")
@click.argument("path", default=defaults.AUDIT_LOG, type=click.Path(dir_okay=False))
@handle_errors
def audit_repair(path: str) -> None:
    """Seal a torn last record with a repair record that keeps its bytes; nothing before is
    rewritten."""
    from ..store.audit import repair_log

    click.echo(f"{path}: {repair_log(path)}")


@main.command("github-action", hidden=True)
def github_action() -> None:
    """Run one step of the GitHub Action (reads INPUT_* and GITHUB_* from the environment)."""
    from ..github_action import run_action

    sys.exit(run_action())


@main.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@output_option("text", "json", "markdown")
@full_option
@handle_errors
def show(plan_file: str, output: str, full: bool) -> None:
    """Show a saved plan, as `plan` printed it. Reads no organization: apply checks it again."""
    from ..render.plan import render_text
    from ..render.registry import renderer
    from ..store.plan_file import load_plan

    saved = load_plan(plan_file)
    if output == "text":
        click.echo(render_text(saved, colour=common.colour(), full=full), color=common.colour())
    else:
        click.echo(renderer("plan", output)(saved))
    err(
        f"saved {saved.created_at} from {saved.desired_file}; apply checks it against the live "
        "organization "
        f"before sending anything"
    )
