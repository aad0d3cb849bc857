"""What the audit trail records: the kinds of records and the outcomes a write can have.

The chain itself (hashes, HMACs, files) is the store's business; these are the words it uses,
so the executor, crash settlement and `audit verify` cannot spell an event two ways.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

EventType = Literal[
    "run.start",  # an apply begins: plan hash, change count, organizations
    "run.end",  # it finished: counts, write calls
    "run.interrupted",  # Ctrl-C or SIGTERM stopped it: what was left unsent
    "write.intent",  # flushed before a write call goes out: organization, action, targets
    "write",  # the call's outcome, chained to its intent
    "write.settled",  # a later run read what an intent without an outcome left behind
    "key.bound",  # new keys bound to their labels (in the state store, and the file's write-back)
    "audit.repair",  # a torn last record was sealed
    "lock.acquired",  # a run took organizations' locks in the shared state store
    "lock.released",  # it gave them back
    "lock.taken_over",  # a lock whose lease had passed was taken by another run
    "lock.broken",  # `state unlock RUN_ID` broke a lock on purpose: who did
    "state.migrated",  # a local audit log and its key bindings moved into a shared store
]
EVENT_TYPES: tuple[EventType, ...] = (
    "run.start",
    "run.end",
    "run.interrupted",
    "write.intent",
    "write",
    "write.settled",
    "key.bound",
    "audit.repair",
    "lock.acquired",
    "lock.released",
    "lock.taken_over",
    "lock.broken",
    "state.migrated",
)
# ok: every item applied; partial: some; failed: none; unknown: the call may have acted (a
# timeout after sending, a 5xx), so the next read settles it; not_sent: its intent went on record
# with its phase, and the call was never sent (a stop, a fresh read that forbade it).
WriteOutcome = Literal["ok", "partial", "failed", "unknown", "not_sent"]


AUDIT_SCHEMA_ID = (
    "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/audit-record.schema.json"
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: str = Field(description="When it was written, UTC, ISO 8601 with milliseconds.")
    run_id: str
    actor: str = Field(description="Who ran it: the OS user, or github:ACTOR in the Action.")
    prev_hash: str = Field(description="The previous record's hash (64 zeros for the first).")
    hash: str = Field(description="sha256 over the canonical JSON of the record but hash and hmac.")
    hmac: str | None = Field(default=None, description="With IDEOGRAM_AUDIT_KEY set.")


class RunRecord(_Record):
    event: Literal["run.start", "run.end", "run.interrupted"]
    plan_hash: str
    changes: int | None = None
    organizations: list[str] | None = None
    counts: dict[str, int] | None = None
    write_calls: int | None = None
    unsettled: int | None = None
    message: str = ""


class IntentRecord(_Record):
    event: Literal["write.intent"]
    organization: str
    action: str
    targets: list[str]
    plan_hash: str = ""
    timeout: float | None = Field(
        default=None, description="Seconds the call could take: how late it could have acted."
    )


class WriteRecord(_Record):
    event: Literal["write"]
    intent: str = Field(description="The hash of the intent this outcome answers.")
    organization: str
    action: str
    targets: list[str]
    outcome: WriteOutcome
    message: str = ""
    plan_hash: str = ""
    results: list[dict[str, object]] | None = Field(
        default=None, description="Per member or key: target, success, message or api_key_id."
    )


class SettledRecord(_Record):
    event: Literal["write.settled"]
    intent: str
    organization: str
    action: str | None
    live: dict[str, str] = Field(description="What a fresh read showed of each target.")
    message: str = ""
    lost_keys: list[dict[str, str]] | None = Field(
        default=None,
        description="Keys the lost create made, by creation time on the server's clock: "
        "api_key_id, created, reason. Their deactivation is planned, never done here.",
    )


class KeyBoundRecord(_Record):
    event: Literal["key.bound"]
    keys: list[dict[str, str | list[dict[str, str]]]] = Field(
        description="organization, label and api_key_id of each; when known: created, "
        "fingerprint (of the secret: sha256 prefix, never the secret), deliveries (what each sink "
        "read back), and for a rotation's successor predecessor and retiring_until."
    )
    message: str = ""


class RepairRecord(_Record):
    event: Literal["audit.repair"]
    torn_line: int
    torn_bytes: str = Field(description="The torn record's bytes, base64, kept as evidence.")


class LockRecord(_Record):
    event: Literal["lock.acquired", "lock.released", "lock.taken_over", "lock.broken"]
    organization_ids: list[str]
    holder: str = Field(description="The run id whose lock this is.")
    plan_hash: str = ""
    machine: str = ""
    lease_until: str = ""
    message: str = ""


class MigratedRecord(_Record):
    event: Literal["state.migrated"]
    source: str = Field(description="Where the log came from (a path).")
    head: str = Field(description="The head hash of the log moved.")
    message: str = ""


AuditRecord = Annotated[
    RunRecord
    | IntentRecord
    | WriteRecord
    | SettledRecord
    | KeyBoundRecord
    | RepairRecord
    | LockRecord
    | MigratedRecord,
    Field(discriminator="event"),
]


def audit_record_json_schema() -> dict[str, Any]:
    schema = TypeAdapter(AuditRecord).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": AUDIT_SCHEMA_ID,
        "title": "ideogram-org audit record",
        **schema,
    }
