"""What apply did: one settled result per change, or, for a dry run, the calls it would send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ReconcilerError
from .changes import Blocked, Change, KeyDeactivate, target_of

Outcome = Literal["applied", "failed", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "failed", "skipped")


@dataclass(frozen=True)
class ItemResult:
    change: Change
    outcome: Outcome
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        change = self.change
        return {
            "action": change.action,
            "organization": change.organization,
            "target": target_of(change),
            "key_id": change.key_id if isinstance(change, KeyDeactivate) else None,
            "outcome": self.outcome,
            "message": self.message,
        }


@dataclass
class ApplyReport:
    """A real run: what was sent, what came of it, and what the verification read found."""

    run_id: str
    plan_hash: str
    results: list[ItemResult] = field(default_factory=list)
    remaining: list[Change] = field(default_factory=list)
    remaining_blocked: list[Blocked] = field(
        default_factory=list
    )  # what apply may not do, still there
    verification_error: str = ""
    new_key_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    write_calls: int = 0
    audit_path: str = ""
    audit_head: str = ""  # hash of the log's last record: keep it to detect records cut off later
    not_sent: int = 0  # changes an interruption left unsent
    verified: bool = False  # a verification read was made after the last write

    @property
    def failed(self) -> bool:
        return any(r.outcome != "applied" for r in self.results) or bool(self.verification_error)

    @property
    def converged(self) -> bool:
        return self.verified and not self.remaining and not self.remaining_blocked

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {outcome: 0 for outcome in OUTCOMES}
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "plan_hash": self.plan_hash,
            "dry_run": False,
            "calls": [],
            "results": [r.as_dict() for r in self.results],
            "counts": self.counts(),
            "write_calls": self.write_calls,
            "audit_log": self.audit_path,
            "audit_head": self.audit_head,
            "verification": {
                "remaining_changes": len(self.remaining),
                "remaining_blocked": len(self.remaining_blocked),
                "error": self.verification_error or None,
                "converged": self.converged,
            },
        }


@dataclass
class DryRunReport:
    """A dry run: the exact calls apply would send, in order. Nothing was sent, so nothing
    converged."""

    plan_hash: str
    calls: list[str] = field(default_factory=list)
    pending: int = 0  # changes the plan holds

    failed = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": None,
            "plan_hash": self.plan_hash,
            "dry_run": True,
            "calls": self.calls,
            "results": [],
            "counts": {outcome: 0 for outcome in OUTCOMES},
            "write_calls": 0,
            "verification": {
                "remaining_changes": self.pending,
                "remaining_blocked": None,
                "error": None,
                "converged": False,
            },
        }


Report = ApplyReport | DryRunReport


class ApplyInterrupted(ReconcilerError):
    """Ctrl-C or SIGTERM during apply: no new call was sent after it; the report says what was
    done."""

    exit_code = 130

    def __init__(self, report: ApplyReport) -> None:
        self.report = report
        super().__init__("interrupted")
