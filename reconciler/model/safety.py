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
    key_deactivations: int = 0
    key_deactivation_limit: int | None = None
    protected_members: list[str] = Field(default_factory=list)
    manages_keys: bool = Field(
        default=False,
        description="The file has an api_keys section for it: an unlisted "
        "ACTIVE key is then drift.",
    )


class Violation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["min_owners", "max_removals", "max_key_deactivations"]
    organization: str
    message: str


def check_safety(organizations: list[OrganizationSummary]) -> list[Violation]:
    """Owners taken below min_owners, or more removals or key deactivations than allowed, in any
    organization.

    An organization already below min_owners is not the plan's doing: only a plan that lowers the
    owner count below the minimum breaks the rule.

    Protected members need no rule here: the planner never plans their removal (it blocks it).
    """
    violations: list[Violation] = []
    for org in organizations:
        if org.owners_after < org.min_owners and org.owners_after < org.owners_before:
            violations.append(
                Violation(
                    rule="min_owners",
                    organization=org.name,
                    message=f"{org.name}: owners would fall to {org.owners_after}, below "
                    f"min_owners {org.min_owners}",
                )
            )
        if org.removal_limit is not None and org.removals > org.removal_limit:
            violations.append(
                Violation(
                    rule="max_removals",
                    organization=org.name,
                    message=f"{org.name}: {org.removals} removals exceed max_removals "
                    f"({org.removal_limit} of {org.members_before} members)",
                )
            )
        if (
            org.key_deactivation_limit is not None
            and org.key_deactivations > org.key_deactivation_limit
        ):
            violations.append(
                Violation(
                    rule="max_key_deactivations",
                    organization=org.name,
                    message=f"{org.name}: {org.key_deactivations} key deactivations exceed "
                    "max_key_deactivations "
                    f"({org.key_deactivation_limit}); a deactivated key cannot be brought back",
                )
            )
    return violations
