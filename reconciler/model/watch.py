"""What `watch` reports: keys and organizations over budget, and keys whose spend jumped."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .money import format_money

FindingKind = Literal["budget.daily", "budget.monthly", "anomaly"]
CONTAINED = "contained by watch"  # how a containment change's reason starts


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    kind: FindingKind
    scope: Literal["key", "organization"]
    key_label: str = Field(default="", description="The key's label in the file; '' if none.")
    key_fingerprint: str = Field(
        default="", description="The key's redacted form as the server shows it, never its id."
    )
    amount: float = Field(description="Spent (minor units): today, this month, or in the hour.")
    limit: float = Field(description="The budget, or the anomaly's threshold (minor units).")
    baseline: float | None = Field(
        default=None, description="Anomalies: the median hour of use of the baseline days."
    )
    hour: str = Field(default="", description="Anomalies: the hour's start, UTC.")
    currency: str
    action: Literal["notify", "deactivate", "rotate"]

    @property
    def subject(self) -> str:
        if self.scope == "organization":
            return f"organization {self.organization}"
        return f"key {self.key_label or self.key_fingerprint}"

    @property
    def line(self) -> str:
        spent, limit = (format_money(v, self.currency) for v in (self.amount, self.limit))
        if self.kind == "anomaly":
            usual = format_money(self.baseline or 0, self.currency)
            return (
                f"{self.organization}: {self.subject} spent {spent} in the hour from {self.hour}, "
                f"over {limit} (its usual hour: {usual})"
            )
        period = "today" if self.kind == "budget.daily" else "this month"
        return (
            f"{self.organization}: {self.subject} spent {spent} {period}, over its budget {limit}"
        )

    @property
    def cause(self) -> str:
        """What one notification is sent for: the same finding on the next run is not news."""
        period = self.hour or ("day" if self.kind == "budget.daily" else "month")
        return f"{self.kind}:{self.organization}:{self.key_label or self.key_fingerprint}:{period}"


class Containment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organization: str
    key_label: str
    action: Literal["deactivate", "rotate"]
    outcome: Literal["planned", "done", "failed", "refused"] = Field(
        description="planned: shown, not sent (no --contain); done or failed: sent; refused: "
        "the safety limits stopped it."
    )
    detail: str = ""


class WatchReport(BaseModel):
    """What `watch --output json` prints."""

    model_config = ConfigDict(extra="forbid", title="ideogram-org watch report")

    format_version: Literal[1] = 1
    generated_at: str
    hours: int = Field(description="How many of the last hours were watched.")
    organizations: list[str]
    findings: list[Finding]
    containment: list[Containment] = Field(default_factory=list)
    commits: list[str] = Field(
        default_factory=list, description="Each spend commit's projection, as a line."
    )
    notes: list[str] = Field(default_factory=list)
    audit_head: str = Field(default="", description="The audit record of a containment run.")


WATCH_SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/watch.schema.json"


def watch_json_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": WATCH_SCHEMA_ID,
        **WatchReport.model_json_schema(),
    }
