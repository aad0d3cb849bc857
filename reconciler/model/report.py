"""What apply did: one settled result per change, or, for a dry run, the calls it would send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ReconcilerError
from ..exit_codes import ExitCode
from .changes import Action, Blocked, Change, KeyDeactivate, target_of

Outcome = Literal["applied", "failed", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("applied", "failed", "skipped")
APPLY_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/apply.schema.json"


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResultOutput(_Output):
    action: Action
    organization: str
    target: str = Field(description="The member's label (email, handle or id) or the key's.")
    key_id: str | None
    outcome: Outcome
    message: str


class Counts(_Output):
    applied: int = 0
    failed: int = 0
    skipped: int = 0


class NewKey(_Output):
    organization: str
    label: str
    api_key_id: str = Field(description="The new key's id; its secret is never in this output.")


class Verification(_Output):
    made: bool = Field(description="Whether the organization was read again after the writes.")
    remaining_changes: int | None = Field(description="Changes still needed; null if not read.")
    remaining_blocked: int | None = Field(description="Blocked items left; null if not read.")
    error: str | None
    converged: bool = Field(description="Read again, and nothing at all remains.")


class ApplyOutput(_Output):
    """`apply --output json`: one shape for a run, a dry run and a plan with nothing to do."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ideogram-org apply report")

    format_version: Literal[1] = 1
    run_id: str | None = Field(description="The audit log's run id; null when nothing was sent.")
    plan_hash: str
    dry_run: bool = False
    interrupted: bool = False
    calls: list[str] = Field(default_factory=list, description="A dry run's calls, in order.")
    results: list[ResultOutput] = Field(default_factory=list)
    counts: Counts = Field(default_factory=Counts)
    write_calls: int = 0
    not_sent: int = Field(default=0, description="Changes an interruption left unsent.")
    new_keys: list[NewKey] = Field(default_factory=list)
    audit_log: str | None = None
    audit_head: str | None = Field(default=None, description="For `audit verify --head`.")
    verification: Verification


def apply_json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": APPLY_SCHEMA_ID,
        **ApplyOutput.model_json_schema(),
    }


@dataclass(frozen=True)
class ItemResult:
    change: Change
    outcome: Outcome
    message: str = ""

    def as_output(self) -> ResultOutput:
        change = self.change
        return ResultOutput(
            action=change.action,
            organization=change.organization,
            target=target_of(change),
            key_id=change.key_id if isinstance(change, KeyDeactivate) else None,
            outcome=self.outcome,
            message=self.message,
        )


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
    # (organization, label) -> what its key.bound record keeps (creation time, fingerprint,
    # deliveries, predecessor): never the secret
    new_key_bindings: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    wrote_back: bool = False  # the new keys' ids went into the desired file (the local store)
    write_calls: int = 0
    audit_path: str = ""
    audit_head: str = ""  # hash of the log's last record: keep it to detect records cut off later
    not_sent: int = 0  # changes an interruption left unsent
    verified: bool = False  # a verification read was made after the last write
    interrupted: bool = False  # Ctrl-C or SIGTERM stopped the run

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

    def as_output(self) -> ApplyOutput:
        return ApplyOutput(
            run_id=self.run_id,
            plan_hash=self.plan_hash,
            interrupted=self.interrupted,
            results=[r.as_output() for r in self.results],
            counts=Counts(**self.counts()),
            write_calls=self.write_calls,
            not_sent=self.not_sent,
            new_keys=[
                NewKey(organization=org, label=label, api_key_id=key_id)
                for (org, label), key_id in self.new_key_ids.items()
            ],
            audit_log=self.audit_path or None,
            audit_head=self.audit_head or None,
            verification=Verification(
                made=self.verified,
                remaining_changes=len(self.remaining) if self.verified else None,
                remaining_blocked=len(self.remaining_blocked) if self.verified else None,
                error=self.verification_error or None,
                converged=self.converged,
            ),
        )


@dataclass
class DryRunReport:
    """A dry run: the exact calls apply would send, in order. Nothing was sent, so nothing
    converged."""

    plan_hash: str
    calls: list[str] = field(default_factory=list)
    pending: int = 0  # changes the plan holds

    failed = False

    def as_output(self) -> ApplyOutput:
        return ApplyOutput(
            run_id=None,
            plan_hash=self.plan_hash,
            dry_run=True,
            calls=self.calls,
            verification=Verification(
                made=False,
                remaining_changes=self.pending,
                remaining_blocked=None,
                error=None,
                converged=False,
            ),
        )


@dataclass
class NothingToApply:
    """The plan had no change: nothing was sent. The read it was made from is the verification:
    the organization matches the file, but for the blocked items, which need a person."""

    plan_hash: str
    blocked: int
    dry_run: bool = False

    failed = False

    def as_output(self) -> ApplyOutput:
        return ApplyOutput(
            run_id=None,
            plan_hash=self.plan_hash,
            dry_run=self.dry_run,
            verification=Verification(
                made=True,
                remaining_changes=0,
                remaining_blocked=self.blocked,
                error=None,
                converged=self.blocked == 0,
            ),
        )


Report = ApplyReport | DryRunReport | NothingToApply


class ApplyInterrupted(ReconcilerError):
    """Ctrl-C or SIGTERM during apply: no new call was sent after it; the report says what was
    done."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, report: ApplyReport) -> None:
        self.report = report
        super().__init__("interrupted")
