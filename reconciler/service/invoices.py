"""`usage --invoices`: each invoice of the window against the usage of its own period."""

from __future__ import annotations

from datetime import datetime

from ..api.client import ApiReader
from ..api.endpoints import capabilities
from ..api.usage import read_invoices, read_usage
from ..model.invoices import InvoiceCheck
from ..model.live import LiveOrganization
from ..planning.invoices import check, overlapping

NO_INVOICES = "the server (API {version}) lists no invoices: --invoices needs API 2026-06"


def invoice_checks(
    reader: ApiReader,
    org: LiveOrganization,
    api_version: str,
    since: datetime,
    until: datetime,
    labels: dict[str, str],
) -> tuple[list[InvoiceCheck] | None, list[str]]:
    """The invoices whose period overlaps [since, until], each compared with the usage summed over
    its whole period (one more usage read, covering those periods); None when the server has no
    invoices."""
    if not capabilities(api_version).invoices:
        return None, [NO_INVOICES.format(version=api_version)]
    invoices, notes = read_invoices(reader, org.organization_id)
    wanted = overlapping(invoices, since, until)
    if not wanted:
        return [], notes
    start = min(i.start for i in wanted)
    end = min(max(i.end for i in wanted), max(until, start))
    usage = read_usage(reader, org, api_version, start, end)
    notes += list(usage.notes)
    return [check(invoice, usage.uses, labels) for invoice in wanted], notes
