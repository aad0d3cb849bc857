"""Reading usage, spend commits and credits: only when a command or a policy needs them.

One usage call per organization covers the whole window at DAY granularity (two on 2026-06, whose
`source` filter splits API use from web-app use and defaults to API alone).
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import msgspec

from ..model.invoices import InvoiceInfo, InvoiceLine
from ..model.live import LiveOrganization
from ..model.timestamps import parse_timestamp
from ..model.usage import UNKNOWN_TOOL, CommitInfo, OrganizationUsage, UsageRecord
from .client import ApiReader, Params, shape_error
from .endpoints import GET_CREDITS, GET_SPEND_COMMIT, GET_USAGE, LIST_INVOICES, capabilities
from .wire import (
    CreditsResponse,
    InvoicesResponse,
    SpendCommitResponse,
    ToolUsage,
    UsageResponse,
    UsageSegment,
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


_ROWS = msgspec.json.Decoder(list[ToolUsage])


def _rows(segment: UsageSegment) -> list[ToolUsage]:
    """A segment's rows, decoded now (see UsageSegment), with the client's shape error."""
    try:
        return _ROWS.decode(segment.tool_usage)
    except msgspec.DecodeError as exc:
        raise shape_error(f"usage_segments: {exc}", GET_USAGE.method, GET_USAGE.path) from None


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
    keep = sys.intern  # a key id, address or tool repeats on every day: one string each
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
            rows = _rows(segment)
            untyped += sum(1 for row in rows if row.tool_type is None)
            records += [  # positional: a fifth faster than by keyword, 824,000 times
                UsageRecord(
                    day,  # day, key id, address, tool, model, amount, currency, hour
                    keep(row.api_key_id) if row.api_key_id else None,
                    keep(row.user_email_address) if row.user_email_address else None,
                    keep(row.tool_type or UNKNOWN_TOOL),
                    keep(row.model_version) if row.model_version else None,
                    row.amount.amount,
                    keep(row.amount.currency_code),
                    hour,
                )
                for row in rows
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


def read_invoices(
    reader: ApiReader, organization_id: str
) -> tuple[tuple[InvoiceInfo, ...], list[str]]:
    """The organization's invoices (API 2026-06), with what in the answer was unusual."""
    answer = reader.fetch(LIST_INVOICES, InvoicesResponse, {"organization_id": organization_id})
    found: list[InvoiceInfo] = []
    notes: list[str] = []
    example_shape = 0
    for invoice in answer.invoices:
        start, end = parse_timestamp(invoice.start_time), parse_timestamp(invoice.end_time)
        if start is None or end is None:
            notes.append(
                f"an invoice from {invoice.start_time[:40]!r} to {invoice.end_time[:40]!r} has "
                "no readable period: not compared"
            )
            continue
        status = invoice.invoice_status or invoice.status
        example_shape += invoice.invoice_status is None and invoice.status is not None
        currency = invoice.total_spend.currency_code
        others = sum(1 for line in invoice.line_items if line.total.currency_code != currency)
        if others:
            notes.append(
                f"{others} line item(s) of the {start:%Y-%m} invoice are in another currency "
                f"than its total ({currency}): left out of its sums"
            )
        found.append(
            InvoiceInfo(
                invoice_id=invoice.invoice_id,
                start=start.astimezone(timezone.utc),
                end=end.astimezone(timezone.utc),
                status=status or "UNKNOWN",
                total=invoice.total_spend.amount,
                currency=currency,
                lines=tuple(
                    InvoiceLine(
                        api_key_id=line.api_key_id or None,
                        charge_name=line.charge_name,
                        amount=line.total.amount,
                        currency=line.total.currency_code,
                    )
                    for line in invoice.line_items
                ),
            )
        )
    if example_shape:
        notes.append(
            f"{example_shape} invoice(s) gave their status as `status` (the shape of the spec's "
            "example, not its schema's `invoice_status`): read as the status"
        )
    return tuple(found), notes
