"""Drift: where the live organization differs from the file, and whether apply could fix it.

Computed from the same pure plan, read through an `ApiReader`, which has no write calls at all.
`drift --output json` prints a `DriftReport`; its JSON Schema is `schemas/drift.schema.json`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .changes import ChangeBlocked, MemberAdd, MemberPromote, MemberRemove
from .plan import Plan

DRIFT_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/drift.schema.json"
LIVE_VS_FILE = {
    "member.add": ("not a member", "listed"),
    "member.promote": ("MEMBER", "OWNER"),
    "member.remove": ("member", "not listed"),
    "key.deactivate": ("ACTIVE", "DISABLED or not listed"),
    "key.create": ("no key", "a new key"),
    "key.rotate": ("a key due for rotation", "a successor"),
    "member.demote": ("OWNER", "MEMBER"),
    "key.reactivate": ("DISABLED", "ACTIVE"),
    "key.missing": ("no such key", "listed"),
    "member.remove_protected": ("member", "not listed (protected)"),
    "member.unknown_role": ("a role this tool does not know", "left as it is"),
    "member.remove_unproven": ("member without the identifier the file uses", "maybe listed"),
    "key.unknown_status": ("a status this tool does not know", "listed"),
    "key.unmanaged": ("ACTIVE", "not listed"),
}


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Difference(_Data):
    organization: str
    kind: str
    subject: str
    live: str
    desired: str
    fixable: bool = Field(description="Whether apply would fix it.")
    fix: str = Field(description="What apply would do, or why it cannot.")


class ReportedKey(_Data):
    """A live key the file does not list, with what identifies it to a person."""

    organization: str
    key_id: str
    redacted: str
    status: str
    creation_time: str
    drift: bool = Field(
        description="True where the organization's file has an api_keys section: the key is "
        "then a difference; elsewhere it is only reported."
    )


class DriftReport(_Data):
    """What `drift` found. Exit 0 when in_sync, 2 when not."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ideogram-org drift report")

    format_version: Literal[1] = 1
    in_sync: bool
    plan_hash: str
    organizations: list[str]
    differences: list[Difference]
    unmanaged_keys: list[ReportedKey]
    notes: list[str] = Field(
        default_factory=list, description="What could not be checked (a sink unreadable), and why."
    )

    @property
    def drifted(self) -> bool:
        return not self.in_sync

    @classmethod
    def from_plan(
        cls, plan: Plan, delivered: list[Difference] | None = None, notes: list[str] | None = None
    ) -> DriftReport:
        """The plan's differences, and those of delivered copies of keys' secrets."""
        differences = []
        new_owners = [
            c.member for c in plan.changes if isinstance(c, MemberPromote) and c.after_add
        ]
        for change in plan.changes:
            if isinstance(change, MemberPromote) and change.after_add:
                continue  # part of the add it follows
            live, desired = LIVE_VS_FILE[change.action]
            if isinstance(change, MemberAdd):
                desired = f"listed as {'OWNER' if change.member in new_owners else 'MEMBER'}"
            if isinstance(change, MemberRemove):
                live = change.current_role
            differences.append(
                Difference(
                    organization=change.organization,
                    kind=change.action,
                    subject=change.subject,
                    live=live,
                    desired=desired,
                    fixable=True,
                    fix=f"apply would {change.action.split('.')[1]}: {change.reason}",
                )
            )
        for item in plan.blocked:
            live, desired = LIVE_VS_FILE[
                item.change.action if isinstance(item, ChangeBlocked) else item.kind
            ]
            differences.append(
                Difference(
                    organization=item.organization,
                    kind=item.kind,
                    subject=item.subject,
                    live=live,
                    desired=desired,
                    fixable=False,
                    fix=item.reason,
                )
            )
        managing = {o.name for o in plan.organizations if o.manages_keys}
        keys = [
            ReportedKey(
                organization=k.organization,
                key_id=k.key_id,
                redacted=k.redacted,
                status=k.status,
                creation_time=k.creation_time,
                drift=k.organization in managing and k.status == "ACTIVE",
            )
            for k in plan.unmanaged_keys
        ]
        for key in keys:
            if key.drift:
                differences.append(
                    Difference(
                        organization=key.organization,
                        kind="key.unmanaged",
                        subject=f"key {key.key_id} ({key.redacted})",
                        live="ACTIVE",
                        desired="not listed",
                        fixable=False,
                        fix="an ACTIVE key the file's api_keys does not list: list it, or set "
                        "prune_api_keys to have "
                        "apply deactivate it",
                    )
                )
        differences += delivered or []
        return cls(
            notes=notes or [],
            in_sync=not differences,
            plan_hash=plan.plan_hash,
            organizations=[o.name for o in plan.organizations],
            differences=differences,
            unmanaged_keys=keys,
        )

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def drift_json_schema() -> dict[str, Any]:
    schema = DriftReport.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": DRIFT_SCHEMA_ID,
        **schema,
    }
