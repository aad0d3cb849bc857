"""The command line. Thin on purpose: each command parses options and calls library functions.

Exit codes follow Terraform and pip-tools: 0 success (or no changes), 2 changes found where the
user asked for a detailed exit code, 1 any error. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .apply import DEFAULT_CHUNK_SIZE, ApplyReport, apply_plan, recheck_saved_plan
from .audit import DEFAULT_AUDIT_LOG, AuditLog, verify_log
from .connect import open_api
from .drift import DRIFT_RENDERERS, DriftReport
from .errors import ConfigError, ReconcilerError, UsageError
from .export import export_live
from .github_action import run_action
from .keystore import SecretsFile
from .live import API_VERSION_CHOICES, read_live_state
from .loader import DEFAULT_CONFIG_NAME, load_config
from .models import desired_state_json_schema
from .pipeline import plan_from_file
from .plan import Plan, plan_json_schema
from .render import RENDERERS, colour_wanted, describe_change, render_text
from .sandbox import API_VERSIONS, Faults, Sandbox, SandboxServer, generate_state
from .sandbox.demo import demo_state
from .sandbox.store import load_or_create_sandbox_state

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _err(message: str) -> None:
    click.echo(message, err=True)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the tool's own errors into one message on stderr and exit 1: never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                _err(str(problem))
            _err(f"error: {len(exc.problems)} problem(s) in the desired-state file")
            sys.exit(exc.exit_code)
        except ReconcilerError as exc:
            _err(f"error: {exc}")
            sys.exit(exc.exit_code)

    return wrapper


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-c", "--config", "config_path", envvar="IDEOGRAM_ORG_CONFIG", default=DEFAULT_CONFIG_NAME,
        show_default=True, show_envvar=True, type=click.Path(dir_okay=False),
        help="The desired-state file.")(func)


def output_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--output", "output", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="Format of what goes to stdout.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ideogram-org")
def main() -> None:
    """Org-as-code for Ideogram enterprise organizations.

    Keep members, owners and API keys in a YAML file; `plan` shows what would change, `apply` does it.
    """


@main.command()
@config_option
@output_option("text", "json")
@handle_errors
def validate(config_path: str, output: str) -> None:
    """Check the desired-state file; report every problem with FILE:LINE:COL."""
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        if output == "json":
            click.echo(json.dumps([p.as_dict() for p in exc.problems], indent=2))
            for problem in exc.problems:
                _err(str(problem))
            sys.exit(EXIT_ERROR)
        raise
    if output == "json":
        click.echo("[]")
    orgs = loaded.desired.organizations
    members = sum(len(o.members) for o in orgs.values())
    _err(f"{config_path}: valid ({len(orgs)} organization(s), {members} member(s))")


@main.command()
def schema() -> None:
    """Print the JSON Schema of the desired-state file."""
    click.echo(json.dumps(desired_state_json_schema(), indent=2))


# --- reading the organization ----------------------------------------------------------------------

def api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to reach the API. The token comes only from IDEOGRAM_TOKEN, never from a flag."""
    options = [
        click.option("--sandbox", is_flag=True,
                     help="Use the built-in sandbox (state in ./.ideogram-sandbox.json): no token, no network."),
        click.option("--endpoint", envvar="IDEOGRAM_ENDPOINT", show_envvar=True, default=None,
                     help="API base URL [default: https://api.ideogram.ai]."),
        click.option("--api-version", type=click.Choice(API_VERSION_CHOICES), default="auto", show_default=True,
                     help="Spec version the server speaks; auto tells them apart without extra calls."),
        click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
                     help="Seconds to wait for each answer."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def org_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--org", "orgs", multiple=True, metavar="NAME",
                        help="Only this organization (repeatable). Default: all in the file.")(func)


def _warn_all(warnings) -> None:
    for warning in warnings:
        _err(f"warning: {warning}")


@main.command()
@config_option
@org_option
@output_option("text", "json", "markdown")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Save the plan for `apply PLANFILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 for no changes, 2 for changes, 1 for errors.")
@api_options
@handle_errors
def plan(config_path: str, orgs: tuple[str, ...], output: str, out_path: str | None, detailed_exitcode: bool,
         sandbox: bool, endpoint: str | None, api_version: str, timeout: float) -> None:
    """Show what apply would change, without changing anything."""
    load_config(config_path)  # a broken file fails before any token or network is needed
    with open_api(sandbox=sandbox, endpoint=endpoint, timeout=timeout) as reader:
        planned = plan_from_file(reader, config_path, orgs, api_version)
    _warn_all(planned.live.warnings)
    result = planned.plan
    if output == "text":
        click.echo(render_text(result, colour=colour_wanted()), color=colour_wanted())
    else:
        click.echo(RENDERERS[output](result))
    if out_path:
        result.save(out_path)
        _err(f"plan saved to {out_path}; apply it with: ideogram-org apply {out_path}")
    if not result.safe:
        _err("error: the plan is unsafe (see the top of the plan); apply will refuse it")
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and result.has_differences:
        sys.exit(EXIT_CHANGES)


@main.command()
@org_option
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the file here instead of stdout.")
@api_options
@handle_errors
def export(orgs: tuple[str, ...], out_path: str | None, sandbox: bool, endpoint: str | None, api_version: str,
           timeout: float) -> None:
    """Write the live organization(s) as a desired-state file that plans to no changes."""
    with open_api(sandbox=sandbox, endpoint=endpoint, timeout=timeout) as reader:
        text = export_live(reader, orgs, api_version)
    if out_path:
        Path(out_path).write_text(text)
        _err(f"exported to {out_path}")
    else:
        click.echo(text, nl=False)


@main.command()
@config_option
@org_option
@output_option("text", "json", "markdown")
@api_options
@handle_errors
def drift(config_path: str, orgs: tuple[str, ...], output: str, sandbox: bool, endpoint: str | None,
          api_version: str, timeout: float) -> None:
    """Report where the live organization differs from the file. Read-only. Exit 0 in sync, 2 drift."""
    load_config(config_path)
    with open_api(sandbox=sandbox, endpoint=endpoint, timeout=timeout, writable=False) as reader:
        planned = plan_from_file(reader, config_path, orgs, api_version)
    _warn_all(planned.live.warnings)
    report = DriftReport.from_plan(planned.plan)
    click.echo(DRIFT_RENDERERS[output](report))
    if report.drifted:
        sys.exit(EXIT_CHANGES)


# --- applying -------------------------------------------------------------------------------------

def _progress(line: str) -> None:
    _err(line)


def render_apply_report(report: ApplyReport) -> str:
    lines = []
    if report.dry_run_calls:
        lines.append(f"Dry run: {len(report.dry_run_calls)} call(s) would be sent; none was.")
        lines += [f"  {call}" for call in report.dry_run_calls]
        return "\n".join(lines)
    for result in report.results:
        symbol, subject, what = describe_change(result.change)
        line = f"{result.outcome:<8} {symbol} {subject}  {result.change.action}"
        if result.message:
            line += f": {result.message}"
        lines.append(line)
    counts = report.counts()
    lines.append(f"Apply: {counts['applied']} applied, {counts['failed']} failed, {counts['skipped']} skipped, "
                 f"in {report.write_calls} write call(s).")
    if report.verification_error:
        lines.append(report.verification_error)
    elif report.remaining:
        lines.append(f"Verification read: {len(report.remaining)} change(s) remain; run apply again to finish.")
    else:
        lines.append("Verification read: the organization matches the file.")
    return "\n".join(lines)


@main.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@config_option
@org_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal).")
@click.option("--dry-run", is_flag=True, help="Print the exact calls that would be sent; send no write.")
@click.option("--allow-unsafe", metavar="PLAN_HASH", help="Approve this unsafe plan, named by its hash (8+ chars).")
@click.option("--audit-log", default=DEFAULT_AUDIT_LOG, show_default=True, envvar="IDEOGRAM_ORG_AUDIT_LOG",
              type=click.Path(dir_okay=False), help="Append-only, hash-chained record of every write.")
@click.option("--secrets-file", type=click.Path(dir_okay=False),
              help="Where the secrets of new keys go (mode 0600); required when the plan creates keys.")
@click.option("--chunk-size", type=click.IntRange(1, 10_000), default=DEFAULT_CHUNK_SIZE, show_default=True,
              help="Members per add/promote/remove call.")
@output_option("text", "json")
@api_options
@handle_errors
@click.pass_context
def apply(ctx: click.Context, plan_file: str | None, config_path: str, orgs: tuple[str, ...], auto_approve: bool,
          dry_run: bool, allow_unsafe: str | None, audit_log: str, secrets_file: str | None, chunk_size: int,
          output: str, sandbox: bool, endpoint: str | None, api_version: str, timeout: float) -> None:
    """Carry out a plan: from the file (after a y/N), or exactly a saved PLAN_FILE."""
    secrets = SecretsFile(secrets_file) if secrets_file else None
    if plan_file:
        saved = Plan.load(plan_file)
        explicit = ctx.get_parameter_source("config_path") not in (None, click.core.ParameterSource.DEFAULT)
        config = load_config(config_path if explicit else saved.desired_file)
        with open_api(sandbox=sandbox, endpoint=endpoint, timeout=timeout, writable=True) as client:
            live = read_live_state(client, config.desired, [o.name for o in saved.organizations], api_version)
            _warn_all(live.warnings)
            checked = recheck_saved_plan(saved, config, live)
            checked.ensure_safe(allow_unsafe)
            report = apply_plan(client, checked, config, audit=AuditLog(audit_log), chunk_size=chunk_size,
                                secrets=secrets, progress=_progress, dry_run=dry_run, api_version=api_version)
    else:
        load_config(config_path)
        with open_api(sandbox=sandbox, endpoint=endpoint, timeout=timeout, writable=True) as client:
            planned = plan_from_file(client, config_path, orgs, api_version)
            _warn_all(planned.live.warnings)
            _err(render_text(planned.plan, colour=colour_wanted(sys.stderr)))
            planned.plan.ensure_safe(allow_unsafe)
            if not planned.plan.changes:
                _err("Nothing to apply.")
                if output == "json":
                    click.echo(json.dumps(ApplyReport(run_id="", plan_hash=planned.plan.plan_hash).as_dict(), indent=2))
                return
            if not dry_run and not auto_approve:
                if not stdin_is_terminal():
                    raise UsageError("no terminal to confirm on: review the plan, then pass --auto-approve, or "
                                     "save it with `plan --out FILE` and run `apply FILE`")
                if not click.confirm(f"Apply these {len(planned.plan.changes)} change(s)?", default=False, err=True):
                    _err("Nothing was applied.")
                    sys.exit(EXIT_ERROR)
            report = apply_plan(client, planned.plan, planned.config, audit=AuditLog(audit_log),
                                chunk_size=chunk_size, secrets=secrets, progress=_progress, dry_run=dry_run,
                                api_version=api_version)
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo(render_apply_report(report))
    if report.new_key_ids:
        _err(f"wrote {len(report.new_key_ids)} new key id(s) into the desired file; commit it")
    if report.failed:
        sys.exit(EXIT_ERROR)


@main.group()
def audit() -> None:
    """The audit log of apply runs."""


@audit.command("verify")
@click.argument("path", default=DEFAULT_AUDIT_LOG, type=click.Path(dir_okay=False))
@handle_errors
def audit_verify(path: str) -> None:
    """Check the hash chain: report any edited, removed or reordered record by line."""
    count, problems = verify_log(path)
    for problem in problems:
        _err(f"{path}: {problem}")
    if problems:
        _err(f"error: {path}: the audit log was tampered with ({len(problems)} problem(s) in {count} record(s))")
        sys.exit(EXIT_ERROR)
    click.echo(f"{path}: {count} record(s), hash chain intact")


@main.command("github-action", hidden=True)
def github_action() -> None:
    """Run one step of the GitHub Action (reads INPUT_* and GITHUB_* from the environment)."""
    sys.exit(run_action())


@main.command("plan-schema")
def plan_schema() -> None:
    """Print the JSON Schema of `plan --output json` and of plan files."""
    click.echo(json.dumps(plan_json_schema(), indent=2))


# --- the sandbox --------------------------------------------------------------------------------

@main.group()
def sandbox() -> None:
    """A faithful fake of the Ideogram management API, for trying the tool and for tests."""


@sandbox.command("init")
@click.option("--state", "state_path", default=".ideogram-sandbox.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the sandbox state.")
@click.option("--members", default=25, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--keys", default=5, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--api-version", default="2026-06", show_default=True, type=click.Choice(API_VERSIONS))
@click.option("--org-name", default="Acme", show_default=True)
@click.option("--demo", is_flag=True, help="Write the built-in demo organization (what --sandbox starts from).")
@handle_errors
def sandbox_init(state_path: str, members: int, keys: int, seed: int, api_version: str, org_name: str,
                 demo: bool) -> None:
    """Write a realistic organization to a state file, the same for the same seed."""
    state = demo_state(api_version) if demo else generate_state(
        members=members, keys=keys, seed=seed, api_version=api_version, org_name=org_name)
    state.save(state_path)
    for org in state.organizations.values():
        _err(f"{state_path}: organization {org.name!r} ({org.organization_id}): "
             f"{len(org.members)} members, {org.owners()} owners, {len(org.api_keys)} keys")


def fault_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--fault-seed", default=0, show_default=True, type=int, help="Seed for the fault dice."),
        click.option("--latency", default=0.0, type=float, help="Seconds added to every response."),
        click.option("--error-rate", default=0.0, type=float, help="Share of calls answered 500/502/503."),
        click.option("--rate-limit-rate", default=0.0, type=float, help="Share of calls that start a 429 burst."),
        click.option("--rate-limit-burst", default=1, type=int, help="Length of a 429 burst."),
        click.option("--retry-after", default=1.0, type=float, help="Retry-After of injected 429s, seconds."),
        click.option("--slow-rate", default=0.0, type=float, help="Share of calls answered after --slow-seconds."),
        click.option("--slow-seconds", default=30.0, type=float),
        click.option("--drop-rate", default=0.0, type=float, help="Share of calls whose connection is dropped."),
        click.option("--member-failure-rate", default=0.0, type=float,
                     help="Share of members in member calls that fail."),
        click.option("--fault-operation", "fault_operations", multiple=True,
                     help="Only these operationIds misbehave (repeatable). Default: all."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def faults_from_options(fault_seed: int, latency: float, error_rate: float, rate_limit_rate: float,
                        rate_limit_burst: int, retry_after: float, slow_rate: float, slow_seconds: float,
                        drop_rate: float, member_failure_rate: float, fault_operations: tuple[str, ...]) -> Faults:
    try:
        return Faults(seed=fault_seed, latency=latency, error_rate=error_rate, rate_limit_rate=rate_limit_rate,
                      rate_limit_burst=rate_limit_burst, retry_after=retry_after, slow_rate=slow_rate,
                      slow_seconds=slow_seconds, drop_rate=drop_rate, member_failure_rate=member_failure_rate,
                      operations=frozenset(fault_operations) or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@sandbox.command("serve")
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False),
              help="State file; created from the demo organization if absent, saved after each write.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="0 picks a free port.")
@click.option("--token", default=None, help="Bearer token the sandbox accepts (default: the state's).")
@click.option("--api-version", default=None, type=click.Choice(API_VERSIONS),
              help="Spec version to follow (default: the state's).")
@fault_options
@handle_errors
def sandbox_serve(state_path: str, host: str, port: int, token: str | None, api_version: str | None,
                  **fault_kwargs: Any) -> None:
    """Serve the sandbox over HTTP until interrupted."""
    faults = faults_from_options(**fault_kwargs)
    state = load_or_create_sandbox_state(state_path)
    if token:
        state.token = token
    if api_version:
        state.api_version = api_version
    state.save(state_path)
    app = Sandbox(state, faults, on_change=lambda s: s.save(state_path))
    try:
        server = SandboxServer(app, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"IDEOGRAM_ENDPOINT={server.url}", nl=True)
    click.echo(f"IDEOGRAM_TOKEN={state.token}")
    _err(f"sandbox ({state.api_version}) serving {state_path} at {server.url}; Ctrl-C stops it")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":  # pragma: no cover
    main()
