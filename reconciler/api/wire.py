"""The management API's response and request shapes, as far as the tool relies on them.

Response models ignore fields they do not know (later versions may add more); the desired-state
models, by contrast, forbid them. Enumerations (roles, key status, profile type) are read as plain
strings: a value this tool does not know must not stop the run. What is done with such a value
is the planner's business, and its answer is always "nothing".
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.dataclasses import dataclass


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


@dataclass(slots=True, frozen=True, config=ConfigDict(extra="ignore"))
class ApiKeyInfo:
    """A slotted dataclass, not a model: a profile and the key list each carry every key (100,000
    at 1,000,000 members), and a model per key held 700 bytes of its own."""

    api_key_id: str
    redacted_api_key: str = ""
    creation_time: str = ""
    status: str | None = None  # ACTIVE or DISABLED today


class ApiProfile(_Response):
    type: str  # INDIVIDUAL or ENTERPRISE today
    name: str
    organization_id: str = ""
    role: str  # the caller's role: OWNER or MEMBER today
    api_keys: list[ApiKeyInfo] = Field(default_factory=list)
    max_num_inflight_requests_permitted: int = 1


class ProfilesResponse(_Response):
    profiles: list[ApiProfile]


class ServerRole(str):
    """A member's role as the server sent it. The two known roles decode to one shared object
    each: a million records would otherwise hold a million copies of "MEMBER" (55 MB, held while
    the answer's body is still alive). An unknown role decodes to its own text."""

    __slots__ = ()


class FullName(str):
    """Whether a member record carried `full_name`, not its text: the tool reads no more than
    that (it proves 2026-06), and a million names were 60 MB beside the answer's body."""

    __slots__ = ()


ABSENT: Final = FullName("\x00absent")  # the default: no server sends it, so absence shows
GIVEN: Final = FullName("\x00given")  # a full_name was sent (its text is dropped at once)
_SHARED_ROLES = {role: ServerRole(role) for role in ("OWNER", "MEMBER")}
_JSON_TYPES = {int: "int", float: "float", bool: "bool", type(None): "null", list: "array"}


def decode_shared(kind: type, value: object) -> object:
    """msgspec's hook for the two types above: the value must be a string, as for `str`; what
    is kept of it is shared (or, for a full name, only its presence)."""
    if type(value) is not str:  # msgspec's own wording for `str` and `str | None`
        expected = "str | null" if kind is FullName else "str"
        raise ValueError(f"Expected `{expected}`, got `{_JSON_TYPES.get(type(value), 'object')}`")
    if kind is ServerRole:
        return _SHARED_ROLES.get(value) or ServerRole(value)
    if kind is FullName:
        return GIVEN
    raise NotImplementedError(kind)


class OrganizationMember(msgspec.Struct, frozen=True, gc=False):
    """A msgspec struct rather than a model: at 100,000 members the answer decodes in a tenth of
    the time and memory of pydantic (unknown fields are ignored, as by the models). Decode it with
    `dec_hook=decode_shared`."""

    user_id: str
    role: ServerRole  # OWNER or MEMBER today
    display_handle: str = ""
    email_address: str = ""
    full_name: FullName | None = ABSENT  # 2026-06 only, and optional there: absence proves nothing

    @property
    def carries_full_name(self) -> bool:
        return self.full_name is not ABSENT


class MembersResponse(msgspec.Struct, frozen=True):
    members: list[OrganizationMember]


class ApiKeysResponse(_Response):
    api_keys: list[ApiKeyInfo] = Field(default_factory=list)


class UserSuggestion(_Response):
    display_handle: str
    joined: bool


class UserSuggestionsResponse(_Response):
    user_suggestions: list[UserSuggestion] = Field(default_factory=list)


class MemberResult(_Response):
    success: bool
    message: str | None = None


class MemberOperationResponse(_Response):
    results: list[MemberResult]


class CreatedKey(_Response):
    api_key: SecretStr  # shown once by the server; SecretStr keeps it out of reprs and logs
    api_key_id: str
    creation_time: str = ""


class LiteMember(BaseModel):
    """How a member is named in add/promote/remove bodies."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    display_handle: str | None = None
    email_address: str | None = None

    def body(self) -> dict[str, str]:
        return self.model_dump(exclude_none=True)


# --- usage and spend (read-only; both versions) -------------------------------------------------

_IGNORE = ConfigDict(extra="ignore")


@dataclass(slots=True, frozen=True, config=_IGNORE)
class Price:
    # in the currency's minor unit (cents for USD); NaN or infinity is no amount, and no JSON
    amount: Annotated[float, Field(allow_inf_nan=False)]
    currency_code: str


class UsagePrice(msgspec.Struct, frozen=True, gc=False):
    """Price, in the usage answer's rows (msgspec: the answer of 10,000 keys over 90 days is
    70 MB). msgspec refuses NaN and a number out of range (1e999), as allow_inf_nan=False does."""

    amount: float
    currency_code: str


class SpendRow(msgspec.Struct, frozen=True, gc=False):
    """A usage row, as far as spend per key and per member reads it: what it cost and whose it
    was. Its full_tool_name (required by the schema) is never shown, and its tool and model only
    by the report's groups of them (ToolUsage): the rest is skipped while decoding instead of
    made into 824,000 strings each."""

    amount: UsagePrice
    api_key_id: str | None = None  # required in 2025-10; in 2026-06 present for API use
    user_email_address: str | None = None  # 2026-06 only: web-app use


class ToolUsage(SpendRow, frozen=True, gc=False):
    """A usage row with its tool and model."""

    # an enum that grew between versions (OTHER in 2026-06): read as text; required by the
    # schema, yet absent from the spec's own example, so a row without it is read and counted
    tool_type: str | None = None
    model_version: str | None = None


class UsageSegment(msgspec.Struct, frozen=True):
    """A segment whose rows are left undecoded (api/usage.py decodes them), so a reader sums one
    segment at a time instead of holding every segment's rows."""

    segment_start: str
    segment_end: str
    tool_usage: msgspec.Raw


class UsageResponse(msgspec.Struct, frozen=True):
    usage_segments: list[UsageSegment]


@dataclass(slots=True, frozen=True, config=_IGNORE)
class SpendCommitInfo:
    commit_amount: Price
    commit_start_time: str
    commit_end_time: str
    # required by the schema; the spec's example has commit_spend_balance (what is left) and no
    # is_postpaid_commit instead: both shapes are read
    commit_amount_spent: Price | None = None
    commit_spend_balance: Price | None = None
    is_postpaid_commit: bool | None = None


@dataclass(slots=True, frozen=True, config=_IGNORE)
class SpendCommitResponse:
    commits: list[SpendCommitInfo]


@dataclass(slots=True, frozen=True, config=_IGNORE)
class CreditsResponse:
    total_spend: Price
    average_daily_spend: Price
    available_credits: Price | None = None


@dataclass(slots=True, frozen=True, config=_IGNORE)
class InvoiceLineItem:
    charge_name: str
    quantity: int
    unit_price: Price
    total: Price
    api_key_id: str | None = None  # "when available": a line without one is use without a key


@dataclass(slots=True, frozen=True, config=_IGNORE)
class Invoice:
    start_time: str
    end_time: str
    total_spend: Price
    # required by the schema as `invoice_status` (an enum that may grow: read as text); the
    # spec's path example says `status` and `invoice_paid_date` instead: both shapes are read
    invoice_status: str | None = None
    status: str | None = None
    line_items: list[InvoiceLineItem] = Field(default_factory=list)
    invoice_id: str | None = None
    issued_time: str | None = None


@dataclass(slots=True, frozen=True, config=_IGNORE)
class InvoicesResponse:
    invoices: list[Invoice] = Field(default_factory=list)
