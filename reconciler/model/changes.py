"""What a plan is made of: changes apply can make, items it must not, and keys it only reports.

Each kind is its own type with a `Literal` tag, so code that handles a removal can rely on the
removal's fields (a member and its current role) without unwrapping optionals.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import identity
from .identity import Identity
from .live import Role
from .rotation import REPLACE_REASON

Action = Literal[
    "member.add", "member.promote", "member.remove", "key.deactivate", "key.create", "key.rotate"
]
# The order apply sends changes in, per organization: owners only grow before anyone is removed,
# and a key's successor is delivered before any key is deactivated.
APPLY_ORDER: tuple[Action, ...] = (
    "member.add",
    "member.promote",
    "key.create",
    "key.rotate",
    "member.remove",
    "key.deactivate",
)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberRef(_Data):
    """Who a member change is about: what the file said, plus what the live state knows."""

    user_id: str | None = None
    email: str | None = None
    handle: str | None = None

    @property
    def label(self) -> str:
        return self.email or self.handle or self.user_id or "?"

    @property
    def identities(self) -> list[Identity]:
        return identity.identities(self.email, self.handle, self.user_id)

    def matches(self, name: str) -> bool:
        """Whether `name` (an email, handle or user id) is one of this member's identifiers."""
        return identity.names_person(name, self.email, self.handle, self.user_id)

    def same_person(self, other: MemberRef) -> bool:
        return identity.same_person(self.identities, other.identities)

    def request_body(self) -> dict[str, str]:
        """How a write call names this member: by user_id when known (exact), else as the file
        does."""
        if self.user_id:
            return {"user_id": self.user_id}
        if self.email:
            return {"email_address": self.email}
        return {"display_handle": self.handle or ""}


class _Change(_Data):
    organization: str = Field(description="Local name of the organization in the desired file.")
    organization_id: str
    reason: str


class MemberAdd(_Change):
    action: Literal["member.add"] = "member.add"
    member: MemberRef
    origin: str = Field(
        default="", description="The source this person came from; '' for the file's own entry."
    )

    @property
    def subject(self) -> str:
        return self.member.label


class MemberPromote(_Change):
    action: Literal["member.promote"] = "member.promote"
    member: MemberRef
    after_add: bool = Field(
        default=False, description="A promotion of someone this plan adds first."
    )
    origin: str = Field(
        default="", description="The source that gives OWNER; '' for the file's own entry."
    )
    irreversible: Literal[True] = Field(
        default=True, description="The API has no call to demote an owner."
    )

    @property
    def subject(self) -> str:
        return self.member.label


class MemberRemove(_Change):
    action: Literal["member.remove"] = "member.remove"
    member: MemberRef
    current_role: Role = Field(description="The member's role now: owner removals are rationed.")

    @property
    def subject(self) -> str:
        return self.member.label


class KeyCreate(_Change):
    action: Literal["key.create"] = "key.create"
    key_label: str
    deliver_to: list[str] = Field(
        default_factory=list,
        description="Where the new key's secret goes (the file's deliver_to, described); empty: "
        "apply's --secrets-file.",
    )

    @property
    def subject(self) -> str:
        return key_subject(None, self.key_label)


class KeyRotate(_Change):
    """Phase one of a rotation: a successor is created and delivered; the predecessor stays
    ACTIVE through the overlap and is deactivated by a later plan (phase two)."""

    action: Literal["key.rotate"] = "key.rotate"
    key_label: str
    key_id: str = Field(description="The predecessor: the key the label is bound to now.")
    overlap_seconds: int = Field(
        ge=0, description="How long the predecessor stays ACTIVE after the successor exists."
    )
    deliver_to: list[str] = Field(
        default_factory=list, description="Where the successor's secret goes, as for key.create."
    )

    @property
    def subject(self) -> str:
        return key_subject(self.key_id, self.key_label)


NewKeyChange = KeyCreate | KeyRotate  # a change whose call creates a key and delivers its secret


class KeyDeactivate(_Change):
    action: Literal["key.deactivate"] = "key.deactivate"
    key_id: str
    key_label: str | None = Field(
        default=None, description="The file's label; none for an unlisted key."
    )
    irreversible: Literal[True] = Field(
        default=True, description="A deactivated key cannot be made ACTIVE again."
    )
    retires: bool = Field(
        default=False,
        description="Phase two of a rotation: the predecessor goes, its successor delivered.",
    )

    @property
    def subject(self) -> str:
        return key_subject(self.key_id, self.key_label)


MemberChange = MemberAdd | MemberPromote | MemberRemove
KeyChange = KeyCreate | KeyRotate | KeyDeactivate
Change = Annotated[MemberChange | KeyChange, Field(discriminator="action")]


class MemberBlocked(_Data):
    kind: Literal[
        "member.demote", "member.remove_protected", "member.unknown_role", "member.remove_unproven"
    ]
    organization: str
    organization_id: str
    member: MemberRef
    reason: str

    @property
    def subject(self) -> str:
        return self.member.label


class KeyBlocked(_Data):
    kind: Literal["key.reactivate", "key.missing", "key.unknown_status"]
    organization: str
    organization_id: str
    key_id: str
    key_label: str
    reason: str

    @property
    def subject(self) -> str:
        return key_subject(self.key_id, self.key_label)


class ChangeBlocked(_Data):
    """A change the plan would make but the caller may not: a MEMBER cannot change an
    organization."""

    kind: Literal["caller.not_owner"] = "caller.not_owner"
    organization: str
    organization_id: str
    change: Change
    reason: str

    @property
    def subject(self) -> str:
        return self.change.subject


Blocked = Annotated[MemberBlocked | KeyBlocked | ChangeBlocked, Field(discriminator="kind")]


class UnmanagedKey(_Data):
    """A live key the file does not list: reported, and changed only by prune_api_keys."""

    organization: str
    organization_id: str
    key_id: str
    redacted: str
    creation_time: str = ""
    status: str = Field(
        default="ACTIVE",
        description="ACTIVE, or a status this tool does not know (never "
        "changed); '' when the server sent none.",
    )


def key_subject(key_id: str | None, label: str | None) -> str:
    if key_id and label:
        return f"key {label} ({key_id})"
    return f"key {label or key_id}"


def target_of(change: MemberChange | KeyChange) -> str:
    """The member or key a change is about, as a short name for reports and the audit log."""
    if isinstance(change, KeyCreate | KeyRotate):
        return change.key_label
    if isinstance(change, KeyDeactivate):
        return change.key_label or change.key_id
    return change.member.label


def same_target(left: MemberChange | KeyChange, right: MemberChange | KeyChange) -> bool:
    """Whether two changes (say, from two plans) do the same thing to the same member or key."""
    if (left.action, left.organization_id) != (right.action, right.organization_id):
        return False
    if isinstance(left, KeyCreate | KeyRotate) and isinstance(right, KeyCreate | KeyRotate):
        return left.key_label == right.key_label
    if isinstance(left, KeyDeactivate) and isinstance(right, KeyDeactivate):
        return left.key_id == right.key_id
    if isinstance(left, MemberAdd | MemberPromote | MemberRemove) and isinstance(
        right, MemberAdd | MemberPromote | MemberRemove
    ):
        return left.member.same_person(right.member)
    return False


def is_scheduled_rotation(change: Change) -> bool:
    """A change the file's `rotate:` schedule asked for: a successor due by age, or the
    deactivation of a predecessor whose overlap ended. What the scheduled run may apply without
    a new review (the schedule was reviewed when it was merged)."""
    if isinstance(change, KeyRotate):
        return change.reason != REPLACE_REASON
    return isinstance(change, KeyDeactivate) and change.retires


def member_of(change: Change) -> MemberRef:
    """The member a member change is about; a key change has none."""
    if isinstance(change, KeyCreate | KeyRotate | KeyDeactivate):
        raise TypeError(f"{change.action} is not a member change")
    return change.member
