"""Reading usage, spend commits and credits: only when a command or a policy needs them.

One usage call per organization covers the whole window at DAY granularity (two on 2026-06, whose
`source` filter splits API use from web-app use and defaults to API alone).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ..model.live import LiveOrganization
from ..model.timestamps import parse_timestamp
from ..model.usage import UNKNOWN_TOOL, CommitInfo, OrganizationUsage, UsageRecord
from .client import ApiReader, Params
from .endpoints import GET_CREDITS, GET_SPEND_COMMIT, GET_USAGE, capabilities
from .wire import CreditsResponse, SpendCommitResponse, UsageResponse


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def read_usage(
    reader: ApiReader,
    org: LiveOrganization,
    api_version: str,
    start: datetime,
    end: datetime,
    spend: bool = False,
    segment_by: str = "DAY",
) -> OrganizationUsage:
    """The organization's use between `start` and `end` (and, with `spend`, its commits and
    credits), in segments of a DAY or an HOUR."""
    base: Params = {
        "organization_id": org.organization_id,
        "segment_by": segment_by,
        "start_time": _stamp(start),
        "end_time": _stamp(end),
    }
    per_person = capabilities(api_version).usage_per_person
    records: list[UsageRecord] = []
    unread: list[str] = []  # segment starts that are no date-time
    untyped = 0
    for source in ("API", "APP") if per_person else (None,):
        params: Params = {**base, "source": source} if source else base
        answer = reader.fetch(GET_USAGE, UsageResponse, params)
        for segment in answer.usage_segments:
            moment = parse_timestamp(segment.segment_start)
            if moment is None:  # the spec promises a date-time; nothing is guessed from it
                unread.append(segment.segment_start)
                continue
            utc = moment.astimezone(timezone.utc)
            day, hour = utc.date(), utc.hour if segment_by == "HOUR" else 0
            untyped += sum(1 for row in segment.tool_usage if row.tool_type is None)
            records += [
                UsageRecord(
                    day=day,
                    api_key_id=row.api_key_id or None,
                    email=row.user_email_address or None,
                    tool_type=row.tool_type or UNKNOWN_TOOL,
                    model_version=row.model_version or None,
                    amount=row.amount.amount,
                    currency=row.amount.currency_code,
                    hour=hour,
                )
                for row in segment.tool_usage
            ]
    notes = []
    if untyped:
        notes.append(f"{untyped} usage row(s) had no tool_type: counted as {UNKNOWN_TOOL!r}")
    if unread:
        notes.append(
            f"{len(unread)} usage segment(s) had a start that is no date-time (first: "
            f"{unread[0][:40]!r}): their rows are not counted"
        )
    commits: tuple[CommitInfo, ...] = ()
    credits = None
    if spend:
        commits, commit_notes = _commits(reader, org.organization_id)
        notes += commit_notes
        found = reader.fetch(
            GET_CREDITS,
            CreditsResponse,
            {
                "organization_id": org.organization_id,
                "start_time": _stamp(start),
                "end_time": _stamp(end),
            },
        )
        credits = found.available_credits.amount if found.available_credits else None
    return OrganizationUsage(
        name=org.name,
        organization_id=org.organization_id,
        start=start,
        end=end,
        records=tuple(records),
        per_person=per_person,
        commits=commits,
        available_credits=credits,
        notes=tuple(notes),
    )


def _commits(reader: ApiReader, organization_id: str) -> tuple[tuple[CommitInfo, ...], list[str]]:
    # postpaid_only defaults to true: without false, a prepaid customer's commit never shows
    answer = reader.fetch(
        GET_SPEND_COMMIT,
        SpendCommitResponse,
        {"organization_id": organization_id, "postpaid_only": "false"},
    )
    found, notes = [], []
    for commit in answer.commits:
        start, end = (
            parse_timestamp(commit.commit_start_time),
            parse_timestamp(commit.commit_end_time),
        )
        if commit.commit_amount_spent is not None:
            spent = commit.commit_amount_spent.amount
        elif commit.commit_spend_balance is not None:
            spent = commit.commit_amount.amount - commit.commit_spend_balance.amount
            notes.append("a commit gave what is left (commit_spend_balance): spent is the rest")
        else:
            spent = None
        if start is None or end is None or spent is None:
            notes.append(
                f"a commit from {commit.commit_start_time[:40]!r} to "
                f"{commit.commit_end_time[:40]!r} could not be read (no dates or no spend): "
                "left out of the projection"
            )
            continue
        found.append(
            CommitInfo(
                amount=commit.commit_amount.amount,
                spent=spent,
                start=start,
                end=end,
                postpaid=commit.is_postpaid_commit,
                currency=commit.commit_amount.currency_code,
            )
        )
    return tuple(found), notes
