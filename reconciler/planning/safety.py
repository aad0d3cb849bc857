"""The rules no plan may break without an approval that names it, judged per organization."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OrganizationSummary(BaseModel):
    """The numbers safety is judged on: what the organization has, and what the plan would leave."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    organization_id: str
    profile_name: str
    caller_role: str
    members_before: int
    owners_before: int
    owners_after: int
    min_owners: int
    removals: int
    removal_limit: int | None
    protected_members: list[str] = Field(default_factory=list)


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["min_owners", "max_removals"]
    organization: str
    message: str


def check_safety(organizations: list[OrganizationSummary]) -> list[Violation]:
    """Owners below min_owners, or more removals than max_removals, in any organization.

    Protected members need no rule here: the planner never plans their removal (it blocks it).
    """
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
    return violations
