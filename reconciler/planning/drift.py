"""Drift: where the live organization differs from the file, and whether apply could fix it.

Computed from the same pure plan, read through an `ApiReader`, which has no write calls at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .changes import ChangeBlocked, MemberAdd, MemberPromote, MemberRemove
from .plan import Plan

LIVE_VS_FILE = {
    "member.add": ("not a member", "listed"),
    "member.promote": ("MEMBER", "OWNER"),
    "member.remove": ("member", "not listed"),
    "key.deactivate": ("ACTIVE", "DISABLED or not listed"),
    "key.create": ("no key", "a new key"),
    "member.demote": ("OWNER", "MEMBER"),
    "key.reactivate": ("DISABLED", "ACTIVE"),
    "key.missing": ("no such key", "listed"),
    "member.remove_protected": ("member", "not listed (protected)"),
    "member.unknown_role": ("a role this tool does not know", "left as it is"),
    "member.remove_unproven": ("member without the identifier the file uses", "maybe listed"),
    "key.unknown_status": ("a status this tool does not know", "listed"),
}


@dataclass(frozen=True)
class Difference:
    organization: str
    kind: str
    subject: str
    live: str
    desired: str
    fixable: bool
    fix: str  # what apply would do, or why it cannot


@dataclass(frozen=True)
class DriftReport:
    differences: tuple[Difference, ...]
    unmanaged_keys: int
    plan_hash: str
    organizations: tuple[str, ...]

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    @classmethod
    def from_plan(cls, plan: Plan) -> DriftReport:
        differences = []
        new_owners = [c.member for c in plan.changes if isinstance(c, MemberPromote) and c.after_add]
        for change in plan.changes:
            if isinstance(change, MemberPromote) and change.after_add:
                continue  # part of the add it follows
            live, desired = LIVE_VS_FILE[change.action]
            if isinstance(change, MemberAdd):
                desired = f"listed as {'OWNER' if change.member in new_owners else 'MEMBER'}"
            if isinstance(change, MemberRemove):
                live = change.current_role
            differences.append(Difference(change.organization, change.action, change.subject, live, desired,
                                          True, f"apply would {change.action.split('.')[1]}: {change.reason}"))
        for item in plan.blocked:
            live, desired = LIVE_VS_FILE[item.change.action if isinstance(item, ChangeBlocked) else item.kind]
            differences.append(Difference(item.organization, item.kind, item.subject, live, desired, False,
                                          item.reason))
        return cls(tuple(differences), len(plan.unmanaged_keys), plan.plan_hash,
                   tuple(o.name for o in plan.organizations))

    def as_dict(self) -> dict[str, Any]:
        return {"in_sync": not self.drifted, "plan_hash": self.plan_hash, "organizations": list(self.organizations),
                "differences": [asdict(d) for d in self.differences], "unmanaged_keys": self.unmanaged_keys}
