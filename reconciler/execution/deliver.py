"""Delivering a new key's secret to every sink, in the order that loses nothing.

Every sink is staged first (GitHub's public key read and the secret sealed; an encrypted file
written beside its target and synced), so whatever can fail fails before any consumer's copy
changes; then each staged copy is committed and read back, those that cross a network first
(a refusal there leaves every local copy as it was). The secret is only ever in memory
here; what comes back is each sink's receipt, or why the delivery failed, without the secret.
"""

from __future__ import annotations

from ..delivery.sink import NewKey, Receipt, SecretSink, Staged
from ..errors import DeliveryError
from ..store import crash_points


def deliver_everywhere(sinks: list[SecretSink], key: NewKey) -> list[Receipt] | str:
    """The receipts of every sink, or why the key must not stay ACTIVE (nothing delivered, or
    not everywhere: which sinks already hold it is said)."""
    if not sinks:
        return "the key has no sink to deliver its secret to"
    sinks = sorted(sinks, key=lambda sink: not sink.commits_over_network)  # stable: file order
    staged: list[Staged] = []
    try:
        for sink in sinks:
            staged.append(sink.stage(key))
            crash_points.reached("delivery.staged")
    except DeliveryError as exc:
        for copy in staged:
            copy.discard()
        return f"{exc}; no sink was changed"
    receipts: list[Receipt] = []
    for position, copy in enumerate(staged):
        try:
            receipts.append(copy.commit())
        except DeliveryError as exc:
            for rest in staged[position + 1 :]:
                rest.discard()
            holding = ", ".join(r.sink for r in receipts)
            return f"{exc}" + (
                f"; {holding} already hold(s) it, and will hold a deactivated key"
                if holding
                else "; no sink was changed"
            )
        crash_points.reached("delivery.committed")
    return receipts
