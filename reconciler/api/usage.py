"""Reading usage, spend commits and credits: only when a command or a policy needs them.

One usage call per organization covers the whole window at DAY granularity (two on 2026-06, whose
`source` filter splits API use from web-app use and defaults to API alone).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from operator import attrgetter
from typing import TypeVar, cast

import msgspec

from ..model.invoices import InvoiceInfo, InvoiceLine
from ..model.live import LiveOrganization
from ..model.timestamps import parse_timestamp
from ..model.usage import UNKNOWN_TOOL, CommitInfo, CurrencyUse, Kind, OrganizationUsage, Slot
from .client import ApiReader, Params, shape_error
from .endpoints import GET_CREDITS, GET_SPEND_COMMIT, GET_USAGE, LIST_INVOICES, capabilities
from .wire import (
    CreditsResponse,
    InvoicesResponse,
    SpendCommitResponse,
    SpendRow,
    ToolUsage,
    UsageResponse,
    UsageSegment,
)

Row = TypeVar("Row", SpendRow, ToolUsage)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


# a usage row as the sums read it: with its tool and model only when grouped by them (detail)
_SPEND_ROWS = msgspec.json.Decoder(list[SpendRow])
_TOOL_ROWS = msgspec.json.Decoder(list[ToolUsage])
_CURRENCY = attrgetter("amount.currency_code")
_TOOL = attrgetter("tool_type")


def _rows(decoder: msgspec.json.Decoder[list[Row]], segment: UsageSegment) -> list[Row]:
    """A segment's rows, decoded now (see UsageSegment), with the client's shape error."""
    try:
        return decoder.decode(segment.tool_usage)
    except msgspec.DecodeError as exc:
        raise shape_error(f"usage_segments: {exc}", GET_USAGE.method, GET_USAGE.path) from None


def _add(use: CurrencyUse, slot: Slot, rows: Sequence[SpendRow], names: dict[str, str]) -> None:
    """Adds one segment's rows, all in `use`'s currency, to it. Empty text counts as absent, as
    the spec's optional fields are read everywhere. Each key id is one string (`names`): it
    repeats on every day of use, and each day's table keeps it."""
    day = slot[0]
    spent = use.by_slot.setdefault(slot, {})
    members, last = use.by_member, use.member_last
    without_member, rows_without_member = 0.0, 0
    for row in rows:
        amount = row.amount.amount
        key = row.api_key_id
        key = names.setdefault(key, key) if key else None
        spent[key] = spent.get(key, 0.0) + amount
        email = row.user_email_address
        if email:
            members[email] = members.get(email, 0.0) + amount
            if last.get(email, day) <= day:
                last[email] = day
        else:
            without_member += amount
            rows_without_member += 1
    use.without_member += without_member
    use.rows_without_member += rows_without_member
    use.rows += len(rows)
    if use.kinds is not None:  # read with detail: the rows are ToolUsage
        _add_kinds(use.kinds, cast(Sequence[ToolUsage], rows))


def _add_kinds(kinds: dict[Kind, float], rows: Sequence[ToolUsage]) -> None:
    for row in rows:
        kind = (
            row.api_key_id or None,
            row.user_email_address or None,
            row.tool_type or UNKNOWN_TOOL,
            row.model_version or None,
        )
        kinds[kind] = kinds.get(kind, 0.0) + row.amount.amount


class UsageSums:
    """What one read of usage has summed so far, per currency, an answer at a time: no row
    outlives its segment, and no answer the next. With `detail`, the kinds of rows too (the
    report's groups by tool, model and cost center)."""

    def __init__(self, detail: bool = False) -> None:
        self.detail = detail
        self.uses: dict[str, CurrencyUse] = {}
        self.names: dict[str, str] = {}  # one string per key id
        self.unread: list[str] = []  # segment starts that are no date-time
        self.untyped = 0  # rows without a tool type

    def add_answer(self, answer: UsageResponse, hourly: bool) -> None:
        for segment in answer.usage_segments:
            moment = parse_timestamp(segment.segment_start)
            if moment is None:  # the spec promises a date-time; nothing is guessed from it
                self.unread.append(segment.segment_start)
                continue
            utc = moment.astimezone(timezone.utc)
            slot = (utc.date(), utc.hour if hourly else 0)
            if self.detail:
                rows = _rows(_TOOL_ROWS, segment)
                self.untyped += list(map(_TOOL, rows)).count(None)
                self.add_rows(slot, rows)
            else:
                self.add_rows(slot, _rows(_SPEND_ROWS, segment))

    def add_rows(self, slot: Slot, rows: Sequence[SpendRow]) -> None:
        """A segment's rows into the use of their currency (nearly always one per segment)."""
        currencies = set(map(_CURRENCY, rows))
        by_currency = (
            {currencies.pop(): rows}
            if len(currencies) == 1
            else {
                code: [row for row in rows if row.amount.currency_code == code]
                for code in currencies
            }
        )
        for code, part in by_currency.items():
            use = self.uses.get(code)
            if use is None:
                use = self.uses[code] = CurrencyUse(
                    sys.intern(code), kinds={} if self.detail else None
                )
            _add(use, slot, part, self.names)

    def notes(self) -> list[str]:
        """What in the answers was unusual, and how it was read."""
        found = []
        if self.untyped:
            found.append(
                f"{self.untyped} usage row(s) had no tool_type: counted as {UNKNOWN_TOOL!r}"
            )
        if self.unread:
            found.append(
                f"{len(self.unread)} usage segment(s) had a start that is no date-time (first: "
                f"{self.unread[0][:40]!r}): their rows are not counted"
            )
        return found


def read_usage(
    reader: ApiReader,
    org: LiveOrganization,
    api_version: str,
    start: datetime,
    end: datetime,
    spend: bool = False,
    segment_by: str = "DAY",
    detail: bool = False,
) -> OrganizationUsage:
    """The organization's use between `start` and `end` (and, with `spend`, its commits and
    credits), in segments of a DAY or an HOUR, summed per currency as each segment is decoded
    (with `detail`, per kind of row too: see CurrencyUse)."""
    base: Params = {
        "organization_id": org.organization_id,
        "segment_by": segment_by,
        "start_time": _stamp(start),
        "end_time": _stamp(end),
    }
    per_person = capabilities(api_version).usage_per_person
    sums = UsageSums(detail)
    for source in ("API", "APP") if per_person else (None,):
        params: Params = {**base, "source": source} if source else base
        # the answer (70 MB at 10,000 keys over 90 days) goes when it is summed, before the next
        sums.add_answer(reader.fetch(GET_USAGE, UsageResponse, params), segment_by == "HOUR")
    notes = sums.notes()
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
        uses=tuple(sums.uses.values()),
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
