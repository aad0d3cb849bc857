"""Invoices against usage: pure sums, one rule for "differs" (over 1% of the usage)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from ..model.invoices import (
    INVOICE_TOLERANCE,
    NO_KEY,
    NOT_COMPARED_STATUSES,
    InvoiceCheck,
    InvoiceInfo,
    InvoiceKey,
)
from ..model.usage import UsageRecord


def share_of(difference: float, base: float) -> float:
    """A difference as a share of what it is measured against; all of it when that is zero."""
    if base:
        return difference / base
    return 1.0 if difference else 0.0


def differs(difference: float, base: float) -> bool:
    return abs(share_of(difference, base)) > INVOICE_TOLERANCE


def _in_period(record: UsageRecord, start: datetime, end: datetime) -> bool:
    day = record.day
    return start.date() <= day <= end.date()


def check(
    invoice: InvoiceInfo, records: Iterable[UsageRecord], labels: dict[str, str]
) -> InvoiceCheck:
    """One invoice against the usage rows of its period, in its currency (rows of another currency
    are never added to it)."""
    used_by_key: dict[str, float] = defaultdict(float)
    for record in records:
        if record.currency == invoice.currency and _in_period(record, invoice.start, invoice.end):
            used_by_key[record.api_key_id or NO_KEY] += record.amount
    invoiced_by_key: dict[str, float] = defaultdict(float)
    for line in invoice.lines:
        if line.currency == invoice.currency:
            invoiced_by_key[line.api_key_id or NO_KEY] += line.amount
    used = sum(used_by_key.values())
    compared = invoice.status not in NOT_COMPARED_STATUSES
    keys = [
        _key_check(key, invoiced_by_key.get(key, 0.0), used_by_key.get(key, 0.0), compared, labels)
        for key in sorted({*used_by_key, *invoiced_by_key})
    ]
    keys.sort(key=lambda k: (not k.differs, -abs(k.difference), k.key))
    difference = invoice.total - used
    return InvoiceCheck(
        invoice_id=invoice.invoice_id,
        month=invoice.start.strftime("%Y-%m"),
        start=invoice.start.isoformat(),
        end=invoice.end.isoformat(),
        status=invoice.status,
        currency=invoice.currency,
        invoiced=invoice.total,
        used=used,
        difference=difference,
        difference_share=share_of(difference, used),
        compared=compared,
        differs=compared and differs(difference, used),
        keys=keys,
        lines_total_differs=bool(invoice.lines)
        and differs(sum(invoiced_by_key.values()) - invoice.total, invoice.total),
    )


def _key_check(
    key: str, invoiced: float, used: float, compared: bool, labels: dict[str, str]
) -> InvoiceKey:
    return InvoiceKey(
        key=key,
        label=labels.get(key, key),
        invoiced=invoiced,
        used=used,
        difference=invoiced - used,
        differs=compared and differs(invoiced - used, used),
    )


def overlapping(
    invoices: Iterable[InvoiceInfo], since: datetime, until: datetime
) -> list[InvoiceInfo]:
    """The invoices whose period overlaps the report's window, oldest first."""
    return sorted(
        (i for i in invoices if i.start <= until and i.end >= since), key=lambda i: i.start
    )
