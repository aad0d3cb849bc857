"""Monthly invoices (API 2026-06) and how they compare with the usage of the same period.

An invoice is what the customer pays; usage is what the tool sums everywhere else. They should
agree: a difference over INVOICE_TOLERANCE (taxes, fees, credits applied, a late usage row, a
fault) is shown, per month and per key, never silently absorbed into either figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

INVOICE_TOLERANCE = 0.01  # a difference over 1% of the usage is shown
NOT_COMPARED_STATUSES = frozenset({"VOIDED"})  # an invoice nobody pays is listed, not compared
NO_KEY = "(no key)"  # line items without api_key_id, and usage without a key (web app)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    api_key_id: str | None
    charge_name: str
    amount: float  # in the currency's minor unit
    currency: str


@dataclass(frozen=True)
class InvoiceInfo:
    """One invoice as read: its period, status and total, with its line items."""

    invoice_id: str | None
    start: datetime
    end: datetime
    status: str
    total: float  # in the currency's minor unit
    currency: str
    lines: tuple[InvoiceLine, ...]


class InvoiceKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(description="A key id, or '(no key)' for use without one.")
    label: str = Field(description="The key's label in the file, else the same as key.")
    invoiced: float = Field(description="Its line items' totals, in the currency's minor unit.")
    used: float = Field(description="Its usage in the invoice's period, in the minor unit.")
    difference: float = Field(description="invoiced - used, in the minor unit.")
    differs: bool = Field(description="The difference is over 1% of the usage.")


class InvoiceCheck(BaseModel):
    """One invoice against the usage sums of its period."""

    model_config = ConfigDict(frozen=True)

    invoice_id: str | None
    month: str = Field(description="YYYY-MM of the period's start.")
    start: str
    end: str
    status: str = Field(description="DRAFT, PENDING_PAYMENT, PAID or VOIDED (may grow).")
    currency: str
    invoiced: float = Field(description="total_spend, in the currency's minor unit.")
    used: float = Field(description="Usage summed over the period, in the same currency.")
    difference: float = Field(description="invoiced - used, in the minor unit.")
    difference_share: float = Field(description="difference / used (1 when used is 0 and not).")
    compared: bool = Field(description="False for a voided invoice: listed, never judged.")
    differs: bool = Field(description="Compared, and the difference is over 1% of the usage.")
    keys: list[InvoiceKey] = Field(
        description="Per key (line items with api_key_id) and without a key; those that differ "
        "first."
    )
    lines_total_differs: bool = Field(
        default=False,
        description="The line items do not add up to total_spend (over 1%).",
    )
