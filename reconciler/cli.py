"""The command line. Thin on purpose: each command parses options and calls library functions.

Exit codes follow Terraform and pip-tools: 0 success (or no changes), 2 changes found where the
user asked for a detailed exit code, 1 any error. Data goes to stdout, messages to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .errors import ConfigError, ReconcilerError
from .loader import DEFAULT_CONFIG_NAME, load_config
from .models import desired_state_json_schema

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


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
    return click.option("--output", "-o", "output", type=click.Choice(choices), default=choices[0],
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


if __name__ == "__main__":  # pragma: no cover
    main()
