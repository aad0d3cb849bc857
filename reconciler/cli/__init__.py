"""The command line: `ideogram-org`. One of the two front ends (the other is the GitHub Action)."""

from __future__ import annotations

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

__all__ = ["main"]
