"""`ideogram-org sandbox`: set up and serve the fake management API from the command line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .. import defaults
from ..api.endpoints import API_VERSIONS, BY_OPERATION
from ..errors import UsageError
from .common import err, handle_errors

if TYPE_CHECKING:
    from ..sandbox.faults import Faults


@click.group()
def sandbox() -> None:
    """A faithful fake of the Ideogram management API, for trying the tool and for tests."""


@sandbox.command("init")
@click.option(
    "--state",
    "state_path",
    default=defaults.SANDBOX_STATE,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the sandbox state.",
)
@click.option("--members", default=25, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--keys", default=5, show_default=True, type=click.IntRange(0, 1_000_000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--api-version", default="2026-06", show_default=True, type=click.Choice(API_VERSIONS)
)
@click.option("--org-name", default="Acme", show_default=True)
@click.option(
    "--demo",
    is_flag=True,
    help="Write the built-in demo organization (what --sandbox starts from).",
)
@handle_errors
def sandbox_init(
    state_path: str, members: int, keys: int, seed: int, api_version: str, org_name: str, demo: bool
) -> None:
    """Write a realistic organization to a state file, the same for the same seed."""
    from ..sandbox.demo import demo_state
    from ..sandbox.state import generate_state

    state = (
        demo_state(api_version)
        if demo
        else generate_state(
            members=members, keys=keys, seed=seed, api_version=api_version, org_name=org_name
        )
    )
    state.save(state_path)
    for org in state.organizations.values():
        err(
            f"{state_path}: organization {org.name!r} ({org.organization_id}): "
            f"{len(org.members)} members, {org.owners()} owners, {len(org.api_keys)} keys"
        )


def fault_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--fault-seed", default=0, show_default=True, type=int, help="Seed for the fault dice."
        ),
        click.option("--latency", default=0.0, type=float, help="Seconds added to every response."),
        click.option(
            "--error-rate", default=0.0, type=float, help="Share of calls answered 500/502/503."
        ),
        click.option(
            "--rate-limit-rate",
            default=0.0,
            type=float,
            help="Share of calls that start a 429 burst.",
        ),
        click.option("--rate-limit-burst", default=1, type=int, help="Length of a 429 burst."),
        click.option(
            "--retry-after", default=1.0, type=float, help="Retry-After of injected 429s, seconds."
        ),
        click.option(
            "--slow-rate",
            default=0.0,
            type=float,
            help="Share of calls answered after --slow-seconds.",
        ),
        click.option("--slow-seconds", default=30.0, type=float),
        click.option(
            "--drop-rate",
            default=0.0,
            type=float,
            help="Share of calls whose connection is dropped.",
        ),
        click.option(
            "--member-failure-rate",
            default=0.0,
            type=float,
            help="Share of members in member calls that fail.",
        ),
        click.option(
            "--fault-operation",
            "fault_operations",
            multiple=True,
            help="Only these operationIds misbehave (repeatable). Default: all.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def faults_from_options(
    fault_seed: int,
    latency: float,
    error_rate: float,
    rate_limit_rate: float,
    rate_limit_burst: int,
    retry_after: float,
    slow_rate: float,
    slow_seconds: float,
    drop_rate: float,
    member_failure_rate: float,
    fault_operations: tuple[str, ...],
) -> Faults:
    from ..sandbox.faults import Faults

    unknown = sorted(set(fault_operations) - set(BY_OPERATION))
    if unknown:
        raise UsageError(
            f"--fault-operation {unknown[0]!r} is not an operation id; choose from "
            f"{', '.join(BY_OPERATION)}"
        )
    try:
        return Faults(
            seed=fault_seed,
            latency=latency,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            rate_limit_burst=rate_limit_burst,
            retry_after=retry_after,
            slow_rate=slow_rate,
            slow_seconds=slow_seconds,
            drop_rate=drop_rate,
            member_failure_rate=member_failure_rate,
            operations=frozenset(fault_operations) or None,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@sandbox.command("spike")
@click.option(
    "--state",
    "state_path",
    default=defaults.SANDBOX_STATE,
    show_default=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The sandbox state to change.",
)
@click.option("--key", "key_id", required=True, help="The api_key_id that spends.")
@click.option("--factor", default=10.0, show_default=True, type=click.FloatRange(1, 10_000))
@click.option("--hours", default=1, show_default=True, type=click.IntRange(1, 24))
@handle_errors
def sandbox_spike(state_path: str, key_id: str, factor: float, hours: int) -> None:
    """Make one key spend FACTOR times its usual in each of the last HOURS hours (as a leaked key
    would): `watch` reports it."""
    from ..sandbox.state import SandboxState
    from ..sandbox.store import add_spike

    state = SandboxState.load(state_path)
    name = add_spike(state, key_id, factor, hours)
    state.save(state_path)
    err(f"{state_path}: key {key_id} of {name!r} spends {factor:g}x its usual, last {hours} h")


@sandbox.command("serve")
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="State file; created from the demo organization if absent; saved within a second of each "
    "write and at stop.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port.",
)
@click.option(
    "--token", default=None, help="Bearer token the sandbox accepts (default: the state's)."
)
@click.option(
    "--api-version",
    default=None,
    type=click.Choice(API_VERSIONS),
    help="Spec version to follow (default: the state's).",
)
@click.option(
    "--caller-role",
    type=click.Choice(["OWNER", "MEMBER"]),
    default=None,
    help="Make the token's user this role in every organization (try a MEMBER's view).",
)
@click.option("--payment-required", is_flag=True, help="Answer 402 to every key creation.")
@click.option(
    "--members-need-owner",
    is_flag=True,
    help="Answer 403 when a MEMBER reads an organization's member list.",
)
@fault_options
@handle_errors
def sandbox_serve(
    state_path: str,
    host: str,
    port: int,
    token: str | None,
    api_version: str | None,
    caller_role: str | None,
    payment_required: bool,
    members_need_owner: bool,
    **fault_kwargs: Any,
) -> None:
    """Serve the sandbox over HTTP until interrupted."""
    from ..sandbox.app import Sandbox
    from ..sandbox.persist import DebouncedSaver
    from ..sandbox.server import SandboxServer
    from ..sandbox.store import load_or_create_sandbox_state

    faults = faults_from_options(**fault_kwargs)
    state = load_or_create_sandbox_state(state_path)
    if token:
        state.token = token
    if api_version:
        state.api_version = api_version
    state.members_need_owner = state.members_need_owner or members_need_owner
    for org in state.organizations.values():
        if caller_role and state.caller_user_id in org.members:
            org.members[state.caller_user_id] = caller_role
        org.payment_required = org.payment_required or payment_required
    state.save(state_path)
    app = Sandbox(state, faults)
    saver = DebouncedSaver(state, state_path, app.lock)
    app.on_change = saver.changed
    try:
        server = SandboxServer(app, host, port)
    except OSError as exc:
        saver.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    click.echo(f"IDEOGRAM_ENDPOINT={server.url}", nl=True)
    click.echo(f"IDEOGRAM_TOKEN={state.token}")
    err(f"sandbox ({state.api_version}) serving {state_path} at {server.url}; Ctrl-C stops it")
    sys.stdout.flush()
    previous = signal.signal(
        signal.SIGTERM, _interrupt
    )  # a clean stop either way: the state is saved
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        saver.close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
