"""Usage and spend, as data: what was read (sums per currency, commits, credits) and what is
made of it.

Pure, like the planner: the service reads (api/usage.py), this sums and judges. The same facts
feed the `usage` report and the usage-aware policies (idle keys, dormant members), so a key the
report calls idle is the key the plan calls idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from .changes import MemberRef
from .invoices import InvoiceCheck
from .money import format_money

GroupBy = Literal["key", "member", "tool", "model", "day", "cost-center"]
# the groups summed from the kinds of rows: a report by one of them reads usage with detail
BY_KIND: tuple[GroupBy, ...] = ("tool", "model", "cost-center")
UNASSIGNED = "(no cost center)"  # use by a key or member the file gives no cost_center


SPEND_DAYS = 30  # "30-day spend" in plans
UNKNOWN_TOOL = "unknown tool"  # the tool type of a usage row that names none
MINOR_UNIT: Any = Field(
    description="In the currency's minor unit (cents for USD), as the API gives."
)
WEB_APP = "web app"  # the group of use without an API key (2026-06: web-app use per member)
API_USE = "API keys"  # the group of use without a member (use through API keys)


NOT_PER_PERSON = (
    "the server (API 2025-10) does not report usage per person: member activity is unknown, "
    "and nothing is judged from it"
)


Slot = tuple[date, int]  # a UTC day and the hour of a segment's start (0 when read by the DAY)
# what a row says besides its amount and time: key id, address as sent, tool, model
Kind = tuple[str | None, str | None, str, str | None]


@dataclass
class CurrencyUse:
    """One currency's use in a window, summed while the answer is read (api/usage.py) instead of
    held as a record per row (824,000 rows at 10,000 keys over 90 days). It keeps what readers of
    usage ask: spend per key in each segment (daily spend, budgets, hourly anomalies, invoices,
    idle keys: a key in a segment's table had a row there), each address's spend and last day,
    and, when read with detail, spend per kind of row (the report's groups by tool, model and
    cost center), which costs as much again to sum."""

    currency: str
    rows: int = 0
    # segment -> key id (None: rows without a key, the web app) -> amount
    by_slot: dict[Slot, dict[str | None, float]] = field(default_factory=dict)
    by_member: dict[str, float] = field(default_factory=dict)  # address as sent -> amount
    member_last: dict[str, date] = field(default_factory=dict)  # address as sent -> last day
    without_member: float = 0.0  # rows with no address: use through keys
    rows_without_member: int = 0
    kinds: dict[Kind, float] | None = None  # None: not read with detail

    def days(self) -> dict[date, dict[str | None, float]]:
        """Spend per key on each day, the segments of one day (read by the HOUR) added up. Read
        only: a day of one segment is that segment's own table."""
        found: dict[date, dict[str | None, float]] = {}
        merged: set[date] = set()
        for (day, _), amounts in self.by_slot.items():
            into = found.get(day)
            if into is None:
                found[day] = amounts
                continue
            if day not in merged:
                found[day] = into = dict(into)
                merged.add(day)
            for key, amount in amounts.items():
                into[key] = into.get(key, 0.0) + amount
        return found


@dataclass(frozen=True)
class CommitInfo:
    amount: float
    spent: float
    start: datetime
    end: datetime
    postpaid: bool | None  # None: the server did not say
    currency: str


@dataclass(frozen=True)
class OrganizationUsage:
    """What the server said about one organization's use between `start` and `end`."""

    name: str
    organization_id: str
    start: datetime
    end: datetime
    uses: tuple[CurrencyUse, ...]  # one per currency
    per_person: bool  # 2026-06 reports web-app use per member; 2025-10 does not
    commits: tuple[CommitInfo, ...] = ()
    available_credits: float | None = None
    # what in the answer was unusual and how it was read (rows without a tool type, dates that
    # could not be read, commits in the example's shape): said in the report, never dropped
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageFacts:
    """What the planner may rely on: last use per key and per member, in a known window."""

    since: date  # the first day read: no record before it is known
    today: date
    key_last_used: dict[str, date]
    key_spend: dict[str, float]  # the last SPEND_DAYS days
    member_last_active: dict[str, date] | None  # by normalised email; None: not reported per person
    currency: str = "USD"  # of key_spend
    # usage in other currencies than key_spend's: (currency, rows); never added to it
    not_summed: tuple[tuple[str, int], ...] = ()


class Group(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(
        description="What the rows are grouped by: a key id, an email, a tool, a model or a day."
    )
    label: str = Field(description="The key's label in the file, else the same as key.")
    amount: float = Field(
        description="In the currency's minor unit (cents for USD), as the API gives it."
    )
    share: float = Field(description="Of the organization's total, 0 to 1.")
    last_used: str | None = Field(default=None, description="Last day with use (keys and members).")


# a slotted dataclass, not a model: a report at 100,000 members holds one per member (no
# docstring: it would be the schema's description)
@pydantic_dataclass(slots=True, frozen=True)
class LastUse:
    id: str
    label: str
    last_used: str | None = Field(description="Last day with use in the window; null: none in it.")
    amount: float = Field(
        description="In the currency's minor unit (cents for USD), as the API gives it."
    )


class CommitStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: float = Field(
        description="In the currency's minor unit (cents for USD), as the API gives it."
    )
    spent: float = Field(
        description="In the currency's minor unit (cents for USD), as the API gives it."
    )
    start: str
    end: str
    postpaid: bool | None = Field(description="null when the server did not say.")
    elapsed_share: float = Field(description="Share of the commit period gone by, 0 to 1.")
    projected: float = Field(
        description="Spend at the period's end if the pace so far holds (minor unit)."
    )
    projected_share: float = Field(description="projected / amount.")


class DaySpend(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: str
    by_key: dict[str, float] = Field(
        description="Spend by key label (web-app use under 'web app')."
    )


class KeyBudget(BaseModel):
    """A key's budget from the file, in the minor unit, as the report draws it."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="The key's id.")
    label: str
    daily: float | None = Field(description="Per UTC day, in the currency's minor unit.")
    monthly: float | None = Field(description="Per calendar month, in the minor unit.")
    currency: str


class BurnPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    day: str
    spent: float = Field(description="Spent on the commit by the end of this day (minor unit).")


class BurnUp(BaseModel):
    """Cumulative spend against the commit, and where the pace so far runs it out."""

    model_config = ConfigDict(frozen=True)

    commit: float = Field(description="The commit's amount, in the minor unit.")
    start: str
    end: str
    points: list[BurnPoint] = Field(
        description="Each day of the window within the commit: the spend so far, counted back "
        "from what the commit says is spent today by the daily spend of the days after it."
    )
    per_day: float = Field(description="The pace so far: spent / days gone (minor unit).")
    run_out: str | None = Field(
        description="The day the commit is used up at that pace; null when nothing is spent "
        "(or the pace would last beyond any calendar)."
    )
    runs_out_early: bool = Field(description="run_out is before the commit's end.")


class OrganizationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    organization_id: str
    since: str
    until: str
    by: GroupBy
    currency: str = Field(description="ISO 4217: every amount of this report is in it.")
    total: float = Field(
        description="In the currency's minor unit (cents for USD), as the API gives it."
    )
    groups: list[Group] = Field(
        description="They add up to total: use without a key or a member has a group of its own."
    )
    keys: list[LastUse]
    members: list[LastUse] | None = Field(
        description="null when the server does not report use per person."
    )
    members_note: str = ""
    daily: list[DaySpend]
    commit: CommitStatus | None
    available_credits: float | None = None
    notes: list[str] = Field(
        default_factory=list,
        description="What in the server's answer was unusual, and how it was read.",
    )
    budgets: list[KeyBudget] = Field(
        default_factory=list,
        description="The file's per-key budgets in this report's currency.",
    )
    burn_up: BurnUp | None = Field(
        default=None, description="With a commit covering today: its burn-up."
    )
    invoices: list[InvoiceCheck] | None = Field(
        default=None,
        description="With --invoices: each invoice whose period overlaps the window, against "
        "the usage of its period; null when not asked for or not offered by the server.",
    )


class UsageReport(BaseModel):
    """What `usage --output json` prints."""

    model_config = ConfigDict(frozen=True, title="ideogram-org usage report")

    format_version: Literal[1] = 1
    generated_at: str
    organizations: list[OrganizationReport]
    usage_calls: int = Field(description="Usage calls (get_usage_info) the report took.")
    notes: list[str] = Field(default_factory=list, description="Organizations left out, and why.")
    api_version: str = Field(default="", description="What the server was found to speak.")
    api_version_evidence: str = Field(default="", description="What decided api_version.")

    def alarm_gaps(self) -> list[str]:
        """Why an alarm on this report could not be judged: an organization whose usage could
        not be read, or a projection that is no number. An alarm that cannot be judged is an
        error (exit 1), never a quiet all-clear."""
        gaps = list(self.notes)
        gaps += [
            f"{o.name}: the commit's projection is not a number ({o.commit.projected_share})"
            for o in self.organizations
            if o.commit and not math.isfinite(o.commit.projected_share)
        ]
        return gaps

    def alert(self, threshold: float) -> list[str]:
        """The organizations whose projected spend reaches `threshold` (a share) of their commit."""
        return [
            f"{o.name}: projected {format_money(o.commit.projected, o.currency)} is "
            f"{o.commit.projected_share:.0%} of the commit "
            f"({format_money(o.commit.amount, o.currency)})"
            for o in self.organizations
            if o.commit and o.commit.projected_share >= threshold
        ]


USAGE_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/usage.schema.json"


def usage_json_schema() -> dict[str, Any]:
    schema = UsageReport.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": USAGE_SCHEMA_ID,
        **schema,
    }


class KeyUse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    key_id: str
    last_used: str | None = Field(
        description="Last day with use; null: none since the window's first day."
    )
    spend_30d: float = Field(description="Spend of the last 30 days, in the currency's minor unit.")
    currency: str = "USD"


class MemberActivity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    member: MemberRef
    last_active: str | None = Field(
        description="Last day of web-app use; null: none in the window."
    )


IdleOutcome = Literal[
    "reported",
    "deactivate",
    "listed ACTIVE: reported, never deactivated",
    "creation time unknown: reported",
]


class IdleKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    key_id: str
    key_label: str | None = None
    no_usage_since: str
    outcome: IdleOutcome


class DormantMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    member: MemberRef
    no_activity_since: str
    listed: bool = Field(description="The file lists them: reported only.")


class PlanUsage(BaseModel):
    """What usage showed, for people: outside the plan hash, which covers the changes alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: str = Field(description="First day of the usage read.")
    today: str
    keys: list[KeyUse] = Field(default_factory=list)
    members: list[MemberActivity] = Field(default_factory=list)
    idle_keys: list[IdleKey] = Field(default_factory=list)
    dormant_members: list[DormantMember] = Field(default_factory=list)
    not_evaluated: list[str] = Field(default_factory=list)
    not_summed: list[str] = Field(
        default_factory=list,
        description="Usage in a second currency, left out of the 30-day spend (never added).",
    )
