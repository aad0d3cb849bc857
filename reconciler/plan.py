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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from . import __version__
from .errors import ReconcilerError, UnsafePlanError

PLAN_FORMAT = 1
PLAN_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/plan.schema.json"
MIN_APPROVAL_PREFIX = 8

Action = Literal["member.add", "member.promote", "member.remove", "key.deactivate", "key.create"]
APPLY_ORDER: tuple[str, ...] = ("member.add", "member.promote", "key.create", "member.remove", "key.deactivate")
BlockedKind = Literal["member.demote", "key.reactivate", "key.missing", "member.remove_protected"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberRef(_Data):
    """Who a member change is about: what the file said, plus what the live state knows."""

    user_id: str | None = None
    email: str | None = None
    handle: str | None = None

    @property
    def label(self) -> str:
        return self.email or self.handle or self.user_id or "?"

    def matches(self, name: str) -> bool:
        folded = name.casefold()
        return any(v is not None and (v.casefold() == folded if k != "user_id" else v == name)
                   for k, v in (("email", self.email), ("handle", self.handle), ("user_id", self.user_id)))


class Change(_Data):
    action: Action
    organization: str = Field(description="Local name of the organization in the desired file.")
    organization_id: str
    member: MemberRef | None = None
    key_id: str | None = None
    key_label: str | None = None
    after_add: bool = Field(default=False, description="A promotion of someone this plan adds first.")
    current_role: Literal["OWNER", "MEMBER"] | None = Field(
        default=None, description="The member's role now, for removals: owner removals are rationed.")
    reason: str

    def same_target(self, other: Change) -> bool:
        """Whether two changes (say, from two plans) do the same thing to the same member or key."""
        if (self.action, self.organization_id) != (other.action, other.organization_id):
            return False
        if self.member is not None and other.member is not None:
            mine, theirs = self.member, other.member
            return any(a is not None and b is not None and (a == b if field == "user_id" else a.casefold() == b.casefold())
                       for field, a, b in (("user_id", mine.user_id, theirs.user_id), ("email", mine.email, theirs.email),
                                           ("handle", mine.handle, theirs.handle)))
        if self.action == "key.create":
            return self.key_label == other.key_label
        return self.key_id == other.key_id


class Blocked(_Data):
    kind: BlockedKind
    organization: str
    organization_id: str
    member: MemberRef | None = None
    key_id: str | None = None
    key_label: str | None = None
    reason: str


class UnmanagedKey(_Data):
    organization: str
    organization_id: str
    key_id: str
    redacted: str
    creation_time: str = ""


class OrganizationSummary(_Data):
    name: str
    organization_id: str
    profile_name: str
    caller_role: Literal["OWNER", "MEMBER"]
    members_before: int
    owners_before: int
    owners_after: int
    min_owners: int
    removals: int
    removal_limit: int | None
    protected_members: list[str] = Field(default_factory=list)


class Violation(_Data):
    rule: Literal["min_owners", "max_removals", "protected_member"]
    organization: str
    message: str


class Plan(BaseModel):
    """What `plan` prints as JSON and `--out` saves; `apply PLANFILE` carries it out."""

    model_config = ConfigDict(extra="forbid", title="ideogram-org plan")

    format_version: Literal[1] = PLAN_FORMAT
    tool_version: str = __version__
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    desired_file: str
    desired_hash: str = Field(description="sha256 of the desired-state file's bytes.")
    live_fingerprint: str = Field(description="sha256 of the live state the plan was computed from.")
    api_version: str
    plan_hash: str = Field(description="sha256 over the changes alone.")
    organizations: list[OrganizationSummary]
    changes: list[Change]
    blocked: list[Blocked]
    unmanaged_keys: list[UnmanagedKey]
    violations: list[Violation]
    live_snapshot: dict | None = Field(
        default=None, description="The live state the plan saw (plan files only): explains a stale plan.")

    # --- verdicts -------------------------------------------------------------------------------

    @property
    def safe(self) -> bool:
        return not self.violations

    @property
    def has_differences(self) -> bool:
        return bool(self.changes or self.blocked)

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in APPLY_ORDER}
        for change in self.changes:
            counts[change.action] += 1
        counts["blocked"] = len(self.blocked)
        counts["unmanaged_keys"] = len(self.unmanaged_keys)
        return counts

    def approved_by(self, approval: str | None) -> bool:
        return bool(approval) and len(approval) >= MIN_APPROVAL_PREFIX and self.plan_hash.startswith(approval)

    def ensure_safe(self, approval: str | None) -> None:
        """Refuse an unsafe plan unless `approval` names this very plan."""
        if self.safe:
            return
        if approval and len(approval) < MIN_APPROVAL_PREFIX:
            raise UnsafePlanError(f"--allow-unsafe needs at least {MIN_APPROVAL_PREFIX} characters of the plan hash")
        if self.approved_by(approval):
            return
        reasons = "; ".join(v.message for v in self.violations)
        hint = (f"--allow-unsafe {approval!r} does not match this plan ({self.plan_hash[:12]})" if approval
                else f"to approve this exact plan, pass --allow-unsafe {self.plan_hash[:12]}")
        raise UnsafePlanError(f"the plan is unsafe: {reasons}. {hint}")

    # --- files ----------------------------------------------------------------------------------

    def to_json(self, include_snapshot: bool = False) -> str:
        exclude = None if include_snapshot else {"live_snapshot"}
        return self.model_dump_json(indent=2, exclude=exclude)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(include_snapshot=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ReconcilerError(f"{path}: cannot read the plan file ({exc.strerror})") from None
        try:
            plan = cls.model_validate_json(text)
        except ValueError as exc:
            raise ReconcilerError(f"{path}: not an ideogram-org plan file ({str(exc).splitlines()[0]})") from None
        if plan.plan_hash != hash_changes(plan.changes):
            raise ReconcilerError(f"{path}: the plan's changes do not match its hash: the file was edited")
        return plan


def hash_changes(changes: list[Change]) -> str:
    canonical = json.dumps([c.model_dump(mode="json") for c in changes], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_safety(organizations: list[OrganizationSummary], changes: list[Change]) -> list[Violation]:
    """The rules no plan may break without an approval that names it."""
    violations: list[Violation] = []
    for org in organizations:
        if org.owners_after < org.min_owners:
            violations.append(Violation(
                rule="min_owners", organization=org.name,
                message=f"{org.name}: owners would fall to {org.owners_after}, below min_owners {org.min_owners}"))
        if org.removal_limit is not None and org.removals > org.removal_limit:
            violations.append(Violation(
                rule="max_removals", organization=org.name,
                message=f"{org.name}: {org.removals} removals exceed max_removals "
                        f"({org.removal_limit} of {org.members_before} members)"))
        for change in changes:
            if change.organization == org.name and change.action == "member.remove" and change.member \
                    and any(change.member.matches(p) for p in org.protected_members):
                violations.append(Violation(
                    rule="protected_member", organization=org.name,
                    message=f"{org.name}: {change.member.label} is a protected member and cannot be removed"))
    return violations


def plan_json_schema() -> dict:
    schema = Plan.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": PLAN_SCHEMA_ID, **schema}


__all__ = [
    "APPLY_ORDER", "Blocked", "Change", "MemberRef", "OrganizationSummary", "Plan", "UnmanagedKey", "Violation",
    "check_safety", "hash_changes", "plan_json_schema",
]
