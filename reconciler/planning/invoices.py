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
from ..model.usage import CurrencyUse


def share_of(difference: float, base: float) -> float:
    """A difference as a share of what it is measured against; all of it when that is zero."""
    if base:
        return difference / base
    return 1.0 if difference else 0.0


def differs(difference: float, base: float) -> bool:
    return abs(share_of(difference, base)) > INVOICE_TOLERANCE


def check(
    invoice: InvoiceInfo, uses: Iterable[CurrencyUse], labels: dict[str, str]
) -> InvoiceCheck:
    """One invoice against the usage of its period's days, in its currency (use in another
    currency is never added to it)."""
    used_by_key: dict[str, float] = defaultdict(float)
    first, last = invoice.start.date(), invoice.end.date()
    for use in uses:
        if use.currency != invoice.currency:
            continue
        for (day, _), spent in use.by_slot.items():
            if first <= day <= last:
                for key, amount in spent.items():
                    used_by_key[key or NO_KEY] += amount
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
