"""What every command shares: error handling, exit codes and the options that recur."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from .. import defaults
from ..api.endpoints import API_VERSION_CHOICES
from ..errors import ConfigError, ReconcilerError
from ..exit_codes import ExitCode


class Group(click.Group):
    """click's group, with click's own errors (an unknown option, a bad value) exiting 1: 2 is
    kept for "changes found"."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.ClickException as exc:
            exc.show()
            sys.exit(ExitCode.ERROR)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(ExitCode.ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def err(message: str) -> None:
    """A message on stderr; whatever it quotes from the file or the server cannot drive the
    terminal."""
    from ..render.escape import visible

    click.echo(visible(message, keep_newlines=True), err=True)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the tool's own errors into one message on stderr and exit 1: never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                err(str(problem))
            err(f"error: {len(exc.problems)} problem(s) in the desired-state file")
            sys.exit(exc.exit_code)
        except ReconcilerError as exc:
            err(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err("Interrupted: nothing more was sent.")
            sys.exit(ExitCode.INTERRUPTED)

    return wrapper


_SIZE = re.compile(r"^\s*(\d+)\s*(|B|KB|KiB|MB|MiB|GB|GiB)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def _size_option(meta_key: str) -> Callable[[click.Context, click.Parameter, str], int]:
    """A callback that reads a size such as 16MiB and keeps it in the context under `meta_key`."""

    def read(ctx: click.Context, param: click.Parameter, value: str) -> int:
        match = _SIZE.match(value)
        if not match or int(match[1]) == 0:
            raise click.BadParameter("give a size such as 16MiB, 64MB or 1000000", ctx, param)
        size = int(match[1]) * _UNITS[match[2].lower()]
        ctx.meta[meta_key] = size
        return size

    return read


_size = _size_option("max_file_size")
_response_size = _size_option("max_response_size")


def connect(sandbox: bool, endpoint: str | None, timeout: float, writable: bool = False) -> Any:
    """The API (or the sandbox) as the command's options say, within its answer-size limit."""
    from ..service.connect import open_api

    return open_api(
        sandbox=sandbox,
        endpoint=endpoint,
        timeout=timeout,
        writable=writable,  # type: ignore[call-overload]
        max_response_bytes=response_limit(),
    )


def response_limit(ctx: click.Context | None = None) -> int:
    """The --max-response-size of the command being run (64 MiB unless changed)."""
    ctx = ctx or click.get_current_context(silent=True)
    limit = ctx.meta.get("max_response_size") if ctx else None
    return int(limit) if limit else defaults.MAX_RESPONSE_BYTES


def max_file_size(ctx: click.Context | None = None) -> int:
    """The --max-file-size of the command being run (16 MiB unless raised)."""
    ctx = ctx or click.get_current_context(silent=True)
    return (
        int(ctx.meta.get("max_file_size", defaults.MAX_FILE_BYTES))
        if ctx
        else defaults.MAX_FILE_BYTES
    )


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--max-file-size",
        default="16MiB",
        show_default=True,
        expose_value=False,
        callback=_size,
        is_eager=True,
        help="Refuse a desired-state file larger than this (a guard against hostile input).",
    )(func)
    return click.option(
        "-c",
        "--config",
        "config_path",
        envvar=defaults.CONFIG_ENV,
        default=defaults.CONFIG_FILE,
        show_default=True,
        show_envvar=True,
        type=click.Path(dir_okay=False),
        help="The desired-state file.",
    )(func)


def output_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--no-color",
            is_flag=True,
            expose_value=False,
            callback=_no_color,
            is_eager=True,
            help="No colour, even on a terminal (NO_COLOR in the environment does the same).",
        )(func)
        return click.option(
            "--output",
            "output",
            type=click.Choice(choices),
            default=choices[0],
            show_default=True,
            help="Format of what goes to stdout.",
        )(func)

    return decorate


def api_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How to reach the API. The token comes only from IDEOGRAM_TOKEN, never from a flag."""
    options = [
        click.option(
            "--sandbox",
            is_flag=True,
            help=f"Use the built-in sandbox (state in ./{defaults.SANDBOX_STATE}): no token, no "
            "network.",
        ),
        click.option(
            "--endpoint",
            envvar=defaults.ENDPOINT_ENV,
            show_envvar=True,
            default=None,
            help=f"API base URL [default: {defaults.ENDPOINT}].",
        ),
        click.option(
            "--api-version",
            type=click.Choice(API_VERSION_CHOICES),
            default="auto",
            show_default=True,
            help="Spec version the server speaks; auto tells them apart without extra calls.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(0.1, 600),
            default=defaults.TIMEOUT_SECONDS,
            show_default=True,
            help="Seconds to wait for each answer.",
        ),
        click.option(
            "--max-response-size",
            default="64MiB",
            show_default=True,
            expose_value=False,
            callback=_response_size,
            help="Refuse an answer larger than this, decoded (a guard against a hostile server).",
        ),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            expose_value=False,
            callback=_verbose,
            is_eager=True,
            help="Log every call (method, path, status, milliseconds, retries) to stderr; never "
            "the token.",
        ),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def refuse_conflicts(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if (
            kwargs.get("sandbox")
            and ctx.get_parameter_source("endpoint") == click.core.ParameterSource.COMMANDLINE
        ):
            raise click.UsageError(
                "--sandbox and --endpoint exclude each other: the sandbox has no endpoint"
            )
        return func(*args, **kwargs)

    return refuse_conflicts


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """Calls are logged to stderr: at INFO with -v, else only warnings (such as a long wait)."""
    import logging

    logger = logging.getLogger("ideogram_org")
    logger.setLevel(logging.INFO if value else logging.WARNING)
    if not any(getattr(h, "ideogram_org", False) for h in logger.handlers):
        handler = logging.StreamHandler(_Stderr())
        handler.setFormatter(logging.Formatter("ideogram-org: %(message)s"))
        handler.ideogram_org = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return value


class _Stderr:
    """Whatever sys.stderr is when a line is written (test runners replace it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def graceful_stop(stop: threading.Event) -> Iterator[None]:
    """While apply runs: the first Ctrl-C or SIGTERM asks it to send no new call and to let the
    calls in
    flight finish (each bounded by --timeout); a second one stops at once."""

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        err(
            "Stopping: no new call is sent; waiting for the calls in flight (press Ctrl-C again "
            "to stop at once)."
        )

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prog() -> str:
    """How the user ran this program, so that a hint names a command that works where it is
    printed."""
    typed = sys.argv[0] if sys.argv else ""
    return typed if os.path.basename(typed) == "ideogram-org" else "ideogram-org"


def config_args() -> str:
    """`-c FILE` when the user gave one, so that a hint reads the same file."""
    ctx = click.get_current_context(silent=True)
    if (
        ctx is None
        or ctx.get_parameter_source("config_path") != click.core.ParameterSource.COMMANDLINE
    ):
        return ""
    return f"-c {ctx.params['config_path']}"


def target_args(sandbox: bool) -> str:
    """The options that point a hinted command at the same API as this one (never the token)."""
    ctx = click.get_current_context(silent=True)
    if sandbox:
        return "--sandbox "
    if (
        ctx is not None
        and ctx.get_parameter_source("endpoint") == click.core.ParameterSource.COMMANDLINE
    ):
        return f"--endpoint {ctx.params['endpoint']} "
    return ""


def colour(stream: Any = None) -> bool:
    """Colour on a terminal, unless NO_COLOR is set or --no-color was given."""
    from ..render.plan import colour_wanted

    ctx = click.get_current_context(silent=True)
    return not (ctx and ctx.meta.get("no_color")) and colour_wanted(stream)


def _no_color(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["no_color"] = True
    return value


@contextlib.contextmanager
def call_progress() -> Iterator[Callable[[int, int, str], None] | None]:
    """A progress bar of apply's write calls on stderr when it is a terminal; otherwise None, and
    apply prints one line per call instead (logs stay readable)."""
    if not sys.stderr.isatty():
        yield None
        return
    lock = threading.Lock()  # calls start on several threads
    with click.progressbar(length=1, label="applying", file=sys.stderr, show_pos=True) as bar:

        def on_call(done: int, total: int, _what: str) -> None:
            with lock:
                bar.length = max(total, done, 1)
                bar.update(max(0, done - bar.pos))

        yield on_call


def full_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--full",
        is_flag=True,
        help="Every line, however many: a large plan otherwise shows ten of each kind and counts "
        "the rest.",
    )(func)


def org_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--org",
        "orgs",
        multiple=True,
        metavar="NAME",
        help="Only this organization (repeatable). Default: all in the file.",
    )(func)


def warn_all(warnings: Iterable[str]) -> None:
    for warning in warnings:
        err(warning)


def audit_log_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The audit trail: apply appends to it; plan and drift read what a crash left in it."""
    return click.option(
        "--audit-log",
        default=defaults.AUDIT_LOG,
        show_default=True,
        envvar=defaults.AUDIT_LOG_ENV,
        type=click.Path(dir_okay=False),
        help="Append-only, hash-chained record of every write.",
    )(func)


def replace_key_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--replace-key ORG/LABEL`, repeatable: rotate that key now, as Terraform's -replace."""
    return click.option(
        "--replace-key",
        "replace_keys",
        multiple=True,
        metavar="ORG/LABEL",
        help="Rotate this key now: a successor is created and delivered, the key itself retires "
        "after its overlap (repeatable).",
    )(func)
