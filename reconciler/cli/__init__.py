"""The command line: `ideogram-org`. One of the two front ends (the other is the GitHub Action)."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import NoReturn

from .commands import main
from .sandbox import sandbox
from .schemas import (
    apply_schema,
    audit_schema,
    drift_schema,
    event_schema,
    plan_schema,
    schema,
    usage_schema,
    watch_schema,
)
from .state import state
from .usage import usage
from .watch import watch

for command in (
    sandbox,
    usage,
    watch,
    state,
    schema,
    plan_schema,
    drift_schema,
    usage_schema,
    watch_schema,
    event_schema,
    apply_schema,
    audit_schema,
):
    main.add_command(command)


def run() -> NoReturn:
    """The console script: `main`, then out. After a short command (one that ran without the
    cycle collector: every one but `sandbox serve`) the process ends without tearing the
    interpreter down, as mypy's does: what the command built (millions of objects at 1,000,000
    members) and every module would be freed for nothing. Every file a command writes is closed
    before it returns (its bytes are the kernel's, which an exit does not lose); the standard
    streams are flushed here."""
    try:
        main()
        code: object = 0
    except SystemExit as stop:
        code = stop.code
    if gc.isenabled():
        sys.exit(code)  # type: ignore[arg-type]
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit does with a message
        code = 1
    try:
        sys.stdout.flush()
    except OSError:  # a reader that went away (a pipe closed early): 120, as the interpreter's
        code = code or 120
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


__all__ = ["main", "run"]
