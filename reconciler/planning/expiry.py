"""Which entries, sources and keys of an organization expire soon or have expired (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from ..config.models import Organization
from ..model.expiry import ExpiryNote


def expiry_notes(
    name: str, org: Organization, origins: Sequence[str], today: date, warn_days: int
) -> list[ExpiryNote]:
    """Everything whose last day is within `warn_days` of `today`, or past it: the warnings a
    plan shows (the past ones are also planned, as removals and deactivations)."""
    found: list[tuple[str, str, date, str]] = []  # kind, subject, expires, origin
    by_source = {s.expires for s in org.sources if s.expires}  # said once, of the source
    for position, member in enumerate(org.members):
        if member.expires is not None:
            origin = origins[position] if position < len(origins) else ""
            if not (origin and member.expires in by_source):
                found.append(("member", member.label, member.expires, origin))
    found += [("source", s.describe(), s.expires, "") for s in org.sources if s.expires]
    found += [("key", label, k.expires, "") for label, k in org.api_keys.items() if k.expires]
    notes = []
    for kind, subject, expires, origin in found:
        days_left = (expires - today).days
        if days_left <= warn_days:
            notes.append(
                ExpiryNote(
                    organization=name,
                    kind=kind,  # type: ignore[arg-type]
                    subject=subject,
                    expires=expires.isoformat(),
                    days_left=days_left,
                    origin=origin,
                )
            )
    return sorted(notes, key=lambda n: (n.days_left, n.kind, n.subject))
