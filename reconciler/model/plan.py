"""A Plan is data: ordered, typed changes, blocked items, and the safety verdict.

Its hash covers the changes alone, so the same desired file and the same live state always give
the same hash, and `--allow-unsafe HASH` approves exactly one plan. Safety is judged from the plan's
own contents, so a plan read back from a file is judged the same way as a fresh one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import __version__
from ..defaults import MIN_APPROVAL_PREFIX
from ..errors import UnsafePlanError
from .changes import APPLY_ORDER, Blocked, Change, UnmanagedKey, is_scheduled_rotation
from .expiry import ExpiryNote
from .rotation import RotationNote
from .safety import OrganizationSummary, Violation
from .sources import SourceSnapshot, snapshots_digest
from .usage import PlanUsage
from .watch import CONTAINED

# 2: changes and blocked items carry only their own kind's fields (was 1: every field, mostly null).
# 3: plan files no longer carry the live snapshot, so they grow with the changes, not the
# organization.
# 4: key.create carries where its secret goes (deliver_to), key.rotate exists, and the plan
# says where each rotating key stands (rotations).
PLAN_FORMAT = 4
PLAN_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/plan.schema.json"


@dataclass(frozen=True)
class NoApproval:
    """Only a safe plan may go through."""


@dataclass(frozen=True)
class AllowUnsafe:
    """`--allow-unsafe HASH`: a person approved this one unsafe plan, named by its hash."""

    plan_hash: str


@dataclass(frozen=True)
class ReviewedPlan:
    """The Action's approval: the hash reviewed on the pull request. It must be the plan applied."""

    plan_hash: str


@dataclass(frozen=True)
class ScheduledRotation:
    """The scheduled run's approval: the file's `rotate:` schedule, reviewed when it was merged.
    It approves a plan made only of the rotations that schedule asks for, and nothing unsafe."""

    plan_hash: str


@dataclass(frozen=True)
class Containment:
    """`watch --contain`'s approval: the budgets' `action` in the file, reviewed when merged. It
    approves a plan made only of the containment those budgets ask for, and nothing unsafe."""

    plan_hash: str


Approval = NoApproval | AllowUnsafe | ReviewedPlan | ScheduledRotation | Containment


class Plan(BaseModel):
    """What `plan` prints as JSON and `--out` saves; `apply PLANFILE` carries it out."""

    model_config = ConfigDict(extra="forbid", title="ideogram-org plan")

    format_version: Literal[4] = 4
    tool_version: str = __version__
    created_at: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    desired_file: str
    desired_hash: str = Field(
        description="sha256 of the desired state the file says, as parsed (not its comments)."
    )
    live_fingerprint: str = Field(
        description="sha256 of the live state the plan was computed from."
    )
    api_version: str
    api_version_evidence: str = Field(
        default="", description="What decided api_version: given, or which answer showed it."
    )
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
    rotations: list[RotationNote] = Field(
        default_factory=list,
        description="Where each rotating key stands (its changes are in changes).",
    )
    sources: list[SourceSnapshot] = Field(
        default_factory=list,
        description="What each source of members returned: covered by plan_hash, so a saved "
        "plan applies exactly this, and is stale when a source now says otherwise.",
    )
    expiring: list[ExpiryNote] = Field(
        default_factory=list,
        description="Entries, sources and keys within warn_days of their expires, or past it "
        "(those are planned as removals and deactivations, reason `expired DATE`).",
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

    def approved_by(self, approval: Approval) -> bool:
        """Whether `approval` names this very plan (a prefix of its hash, long enough)."""
        if isinstance(approval, NoApproval):
            return False
        given = approval.plan_hash
        return len(given) >= MIN_APPROVAL_PREFIX and self.plan_hash.startswith(given)

    def ensure_approved(self, approval: Approval) -> None:
        """Refuse the plan unless `approval` lets it through: a reviewed plan must be this plan,
        and an unsafe plan needs `--allow-unsafe` with its own hash (a review alone approves no
        unsafety)."""
        if isinstance(approval, ScheduledRotation):
            others = [c for c in self.changes if not is_scheduled_rotation(c)]
            if others or not self.approved_by(approval):
                raise UnsafePlanError(
                    "a scheduled rotation applies only the rotations the file's schedule asks "
                    f"for; this plan has {len(others)} other change(s): nothing was sent"
                )
        if isinstance(approval, Containment):
            others = [c for c in self.changes if not c.reason.startswith(CONTAINED)]
            if others or not self.approved_by(approval):
                raise UnsafePlanError(
                    "watch --contain applies only the containment of keys over budget; this "
                    f"plan has {len(others)} other change(s): nothing was sent"
                )
        if isinstance(approval, ReviewedPlan) and not self.approved_by(approval):
            raise UnsafePlanError(
                f"the reviewed plan {approval.plan_hash[:12]} is not this plan "
                f"({self.plan_hash[:12]}): nothing was sent"
            )
        if self.safe:
            return
        if isinstance(approval, AllowUnsafe) and len(approval.plan_hash) < MIN_APPROVAL_PREFIX:
            raise UnsafePlanError(
                f"--allow-unsafe needs at least {MIN_APPROVAL_PREFIX} characters of the plan hash"
            )
        if isinstance(approval, AllowUnsafe) and self.approved_by(approval):
            return
        reasons = "; ".join(v.message for v in self.violations)
        hint = (
            f"--allow-unsafe {approval.plan_hash!r} does not match this plan "
            f"({self.plan_hash[:12]})"
            if isinstance(approval, AllowUnsafe)
            else f"to approve this exact plan, pass --allow-unsafe {self.plan_hash[:12]}"
        )
        raise UnsafePlanError(f"the plan is unsafe: {reasons}. {hint}")

    # --- serialised form ----------------------------------------------------------------------

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def hash_changes(changes: list[Change], sources: list[SourceSnapshot] | None = None) -> str:
    """sha256 over the canonical JSON of the changes: sorted keys, no spaces, in plan order;
    with sources, over that and what they returned (a plan without sources hashes as before)."""
    canonical = json.dumps(
        [c.model_dump(mode="json") for c in changes], sort_keys=True, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    if not sources:
        return digest
    return hashlib.sha256(f"{digest}:{snapshots_digest(sources)}".encode()).hexdigest()


def plan_json_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": PLAN_SCHEMA_ID,
        **schema,
    }
