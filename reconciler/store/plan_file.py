"""Plan files: what `plan --out` writes and `apply PLANFILE` and `show` read.

Written atomically and readable by their owner alone (they name the members they change); read
back only when their changes still match their hash, so an edited file is never applied.
"""

from __future__ import annotations

from pathlib import Path

from ..defaults import MAX_PLAN_FILE_BYTES
from ..errors import ReconcilerError
from ..model.plan import PLAN_FORMAT, Plan, hash_changes
from ..safe_files import read_bytes, write_atomic


def save_plan(plan: Plan, path: str | Path) -> None:
    write_atomic(path, plan.to_json() + "\n", what="plan file", mode=0o600)


def load_plan(path: str | Path) -> Plan:
    raw = read_bytes(path, what="plan file", max_bytes=MAX_PLAN_FILE_BYTES)
    try:
        plan = Plan.model_validate_json(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReconcilerError(
            f"{path}: not an ideogram-org plan file of format {PLAN_FORMAT} "
            f"({str(exc).splitlines()[0]})"
        ) from None
    if plan.plan_hash != hash_changes(plan.changes, plan.sources):
        raise ReconcilerError(
            f"{path}: the plan's changes (or its sources' snapshot) do not match its hash: "
            "the file was edited"
        )
    return plan
