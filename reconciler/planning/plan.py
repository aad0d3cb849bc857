"""A Plan is data: ordered, typed changes, blocked items, and the safety verdict.

Its hash covers the changes alone, so the same desired file and the same live state always give
the same hash, and `--allow-unsafe HASH` approves exactly one plan. Safety is judged from the plan's
own contents, so a plan read back from a file is judged the same way as a fresh one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..defaults import MIN_APPROVAL_PREFIX
from ..errors import ReconcilerError, UnsafePlanError
from ..safe_files import read_bytes, write_atomic
from .changes import APPLY_ORDER, Blocked, Change, UnmanagedKey
from .safety import OrganizationSummary, Violation
from .usage_rules import PlanUsage

# 2: changes and blocked items carry only their own kind's fields (was 1: every field, mostly null).
# 3: plan files no longer carry the live snapshot, so they grow with the changes, not the
# organization.
PLAN_FORMAT = 3
PLAN_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/plan.schema.json"


class Plan(BaseModel):
    """What `plan` prints as JSON and `--out` saves; `apply PLANFILE` carries it out."""

    model_config = ConfigDict(extra="forbid", title="ideogram-org plan")

    format_version: Literal[3] = 3
    tool_version: str = __version__
    created_at: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    desired_file: str
    desired_hash: str = Field(description="sha256 of the desired-state file's bytes.")
    live_fingerprint: str = Field(
        description="sha256 of the live state the plan was computed from."
    )
    api_version: str
    plan_hash: str = Field(description="sha256 over the changes alone.")
    organizations: list[OrganizationSummary]
    changes: list[Change]
    blocked: list[Blocked]
    unmanaged_keys: list[UnmanagedKey]
    violations: list[Violation]
    usage: PlanUsage | None = Field(
        default=None,
        description="What usage showed, when a usage policy read it: not covered by plan_hash.",
    )

    # --- verdicts -------------------------------------------------------------------------------

    @property
    def safe(self) -> bool:
        return not self.violations

    @property
    def has_differences(self) -> bool:
        return bool(self.changes or self.blocked)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {action: 0 for action in APPLY_ORDER}
        for change in self.changes:
            counts[change.action] += 1
        counts["blocked"] = len(self.blocked)
        counts["unmanaged_keys"] = len(self.unmanaged_keys)
        return counts

    def approved_by(self, approval: str | None) -> bool:
        return (
            approval is not None
            and len(approval) >= MIN_APPROVAL_PREFIX
            and self.plan_hash.startswith(approval)
        )

    def ensure_safe(self, approval: str | None) -> None:
        """Refuse an unsafe plan unless `approval` names this very plan."""
        if self.safe:
            return
        if approval and len(approval) < MIN_APPROVAL_PREFIX:
            raise UnsafePlanError(
                f"--allow-unsafe needs at least {MIN_APPROVAL_PREFIX} characters of the plan hash"
            )
        if self.approved_by(approval):
            return
        reasons = "; ".join(v.message for v in self.violations)
        hint = (
            f"--allow-unsafe {approval!r} does not match this plan ({self.plan_hash[:12]})"
            if approval
            else f"to approve this exact plan, pass --allow-unsafe {self.plan_hash[:12]}"
        )
        raise UnsafePlanError(f"the plan is unsafe: {reasons}. {hint}")

    # --- files ----------------------------------------------------------------------------------

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def save(self, path: str | Path) -> None:
        """Write the plan file: atomically, readable by its owner alone (it names the members it
        changes)."""
        write_atomic(path, self.to_json() + "\n", what="plan file", mode=0o600)

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        raw = read_bytes(path, what="plan file")
        try:
            text = raw.decode()
            plan = cls.model_validate_json(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReconcilerError(
                f"{path}: not an ideogram-org plan file of format {PLAN_FORMAT} "
                f"({str(exc).splitlines()[0]})"
            ) from None
        if plan.plan_hash != hash_changes(plan.changes):
            raise ReconcilerError(
                f"{path}: the plan's changes do not match its hash: the file was edited"
            )
        return plan


def hash_changes(changes: list[Change]) -> str:
    """sha256 over the canonical JSON of the changes: sorted keys, no spaces, in plan order."""
    canonical = json.dumps(
        [c.model_dump(mode="json") for c in changes], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_json_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PLAN_SCHEMA_ID,
        **schema,
    }
