"""Drift of delivered copies: a key's secret where its sinks hold it, compared with what apply
read back when it delivered it (on record in the key's binding). A GitHub secret updated by
hand after delivery, or older than the key bound to it, or a copy that is gone, is a difference
apply cannot fix: rotating the key delivers a fresh one everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.loader import LoadedConfig
from ..delivery.sink import DeliveredCopy, SecretSink
from ..delivery.sinks import Deliveries
from ..errors import DeliveryError
from ..model.drift import Difference
from ..model.state import KeyBinding
from ..model.timestamps import parse_timestamp
from ..store.audit import Verification

if TYPE_CHECKING:
    from ..delivery.github_secret import GithubApi


def _what_changed(sink: SecretSink, recorded: dict[str, str], now: DeliveredCopy) -> str | None:
    """Why the copy there now is not the one delivered, in words; None when it is."""
    if not now.present:
        return "the delivered copy is gone"
    from deepdiff import DeepDiff  # only once a copy is read: plan and apply never import it

    diff = DeepDiff(sink.comparable(recorded), sink.comparable(now.detail), view="tree")
    changed = [
        f"{item.path(output_format='list')[-1]} is {item.t2}, was {item.t1} when delivered"
        for item in diff.get("values_changed", [])
    ]
    return "; ".join(changed) or None


def _older_than_key(now: DeliveredCopy, binding: KeyBinding) -> str | None:
    updated = parse_timestamp(now.detail.get("updated_at", ""))
    created = parse_timestamp(binding.created)
    if updated is not None and created is not None and updated < created:
        return (
            f"updated {now.detail['updated_at']}, before the key bound to it was created "
            f"({binding.created}): it holds some other secret"
        )
    return None


def delivery_drift(
    config: LoadedConfig, pending: Verification, github: GithubApi | None = None
) -> tuple[list[Difference], list[str]]:
    """The differences of delivered copies, and notes on the copies that could not be read."""
    deliveries = Deliveries(config.path.resolve().parent, None, github)
    differences: list[Difference] = []
    notes: list[str] = []
    try:
        for (organization, label), binding in sorted(pending.bindings.items()):
            spec = config.desired.key_spec(organization, label)
            if spec is None or spec.id != binding.api_key_id or not binding.deliveries:
                continue
            recorded = {dict(r).get("sink", ""): dict(r) for r in binding.deliveries}
            for sink in deliveries.sinks(spec):
                receipt = recorded.get(sink.describe())
                if receipt is None:
                    notes.append(
                        f"{organization}/{label}: {sink.describe()} was added after the key was "
                        "delivered: it gets a copy at the key's next rotation (--replace-key)"
                    )
                    continue
                try:
                    now = sink.read_back()
                except DeliveryError as exc:
                    notes.append(f"{organization}/{label}: not checked: {exc}")
                    continue
                why = _older_than_key(now, binding) or _what_changed(sink, receipt, now)
                if why is not None:
                    differences.append(
                        Difference(
                            organization=organization,
                            kind="key.delivery",
                            subject=f"key {label} ({binding.api_key_id}) in {sink.describe()}",
                            live=why,
                            desired="the copy apply delivered",
                            fixable=False,
                            fix="the copy was changed outside ideogram-org; rotate the key to "
                            f"deliver a fresh one: ideogram-org apply --replace-key "
                            f"{organization}/{label}",
                        )
                    )
    finally:
        deliveries.close()
    return differences, notes
