"""The desired-state file, format version 1, as pydantic models.

These models are the single source of the file's JSON Schema (`schemas/ideogram-org.schema.json`).
Every model forbids unknown fields and validates strictly: `prune_members: "yes"` is a mistake to
report, not a truthy string to guess at.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from .. import defaults
from ..model.identity import Identity, identity
from ..model.live import KeyStatus, Role
from .fields import CostCenter, ExpiryDate
from .source_models import Source, SourcePolicy

SCHEMA_ID = "https://github.com/ideogram-org/ideogram-org/raw/main/schemas/ideogram-org.schema.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Percentage = Annotated[str, StringConstraints(pattern=r"^(100|[1-9]?[0-9])%$")]
# Unicode categories no identifier may hold: control, format (zero-width, BOM, bidi), line and
# paragraph separators. They hide characters from a reviewer, or move the cursor of their terminal.
HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


_NAME_PATTERN = re.compile(r"\S(.*\S)?")  # no surrounding whitespace, on one line


def _visible_name(value: str) -> str:
    if value.isascii() and value.isprintable() and value and value.strip() == value:
        return value  # the common case (it fits _NAME_PATTERN), without a lookup per character
    if not value:
        raise ValueError("must not be empty")
    if value != value.strip():
        raise ValueError(f"{value!r} must not start or end with whitespace")
    for char in value:
        if unicodedata.category(char) in HIDDEN_CATEGORIES:
            raise ValueError(
                f"{value!r} holds an invisible or control character (U+{ord(char):04X})"
            )
    if not _NAME_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} must be one line without surrounding whitespace")
    return value


# Handles, user ids, key ids, labels and names: what a reviewer reads is what the tool compares.
# One Python check each (a constraint after it would be a second call per value).
Name = Annotated[str, AfterValidator(_visible_name)]


# An ASCII dot-atom local part: email-validator accepts every one of these, so the per-address
# work left is its domain check, done once per domain. Anything else gets the full check.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
EMAIL_MAX_LENGTH, LOCAL_PART_MAX_LENGTH = 254, 64  # email-validator's limits (RFC 5321)


@lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


class EmailsChecked:
    """A validation context: every email of the input has passed `plain_emails`, so no entry's
    email is checked again on its own."""


EMAILS_CHECKED = EmailsChecked()


def _visible_email(value: str, info: ValidationInfo) -> str:
    if isinstance(info.context, EmailsChecked):
        return value
    return check_email(_visible_name(value))


# An email in the file: a visible name that email-validator accepts, in one call per address.
EmailName = Annotated[str, AfterValidator(_visible_email)]

_ATEXT_AND_DOT = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-."
)


def plain_emails(values: list[object]) -> bool:
    """Whether every value is an address `check_email` takes on its fast path (and so a visible
    name): at most 64 ASCII characters, one "@", a dot-atom before it and a domain email-validator
    accepts after it. Checked for the whole list at once, at C speed; a False says only that some
    value needs the full check, one at a time."""
    if not values:
        return True
    if set(map(type, values)) != {str}:
        return False
    addresses = cast(list[str], values)
    if max(map(len, addresses)) > LOCAL_PART_MAX_LENGTH:  # so each part is within its limit
        return False
    joined = "\n" + "\n".join(addresses) + "\n"
    if not joined.isascii() or joined.count("@") != len(addresses):
        return False
    if joined.count("\n") != len(addresses) + 1:
        return False  # a line break inside an address
    if joined.encode("ascii").translate(None, _ATEXT_AND_DOT + b"@\n"):
        return False  # a character no dot-atom or domain here holds
    if "\n@" in joined or "\n." in joined or ".@" in joined or ".." in joined:
        return False  # an empty local part, or a dot at its ends or doubled
    domains = {address.rpartition("@")[2] for address in addresses}
    if "" in domains or any("@" not in address for address in addresses):
        return False  # with the count above: exactly one "@" in each
    return all(_domain_is_valid(domain) for domain in domains)


def check_email(value: str) -> str:
    """`value` if email-validator accepts it, else ValueError with its reason. Fast for plain
    ASCII addresses, which 100,000-member files are made of."""
    local, at, domain = value.rpartition("@")
    if (
        at
        and len(value) <= EMAIL_MAX_LENGTH
        and len(local) <= LOCAL_PART_MAX_LENGTH
        and domain.isascii()
        and _DOT_ATOM.fullmatch(local)
        and _domain_is_valid(domain)
    ):
        return value
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Policy(_Strict):
    """Safety and pruning rules. Set at top level as defaults, and per organization to override."""

    prune_members: bool | None = Field(
        default=None, description="Remove live members the file does not list. Default true."
    )
    prune_api_keys: bool | None = Field(
        default=None,
        description="Deactivate live ACTIVE keys the file does not list. Default false, because "
        "deactivation cannot be undone: unlisted keys are only reported.",
    )
    min_owners: int | None = Field(
        default=None,
        ge=0,
        description="Fewest OWNERs the organization may have at any moment. Default 1.",
    )
    max_removals: int | Percentage | None = Field(
        default=None,
        description="Most members one plan may remove: a count, or a percentage of current members "
        "('25%'). A percentage applies only to organizations of 10 or more members. "
        "Default 25%.",
    )
    max_key_deactivations: int | Percentage | None = Field(
        default=None,
        description="Most keys one plan may deactivate (deactivation cannot be undone): a count, "
        "or a "
        "percentage of the organization's ACTIVE keys ('25%'), which always allows at least 2. "
        "Default 25%.",
    )
    protected_members: list[Name] | None = Field(
        default=None, description="Emails, handles or user ids that are never removed."
    )
    ignore_members: list[Name] | None = Field(
        default=None,
        description="Glob patterns on email or handle (case-insensitive). Matching members are "
        "never "
        "touched and never reported, e.g. service accounts.",
    )
    idle_keys: IdleKeysPolicy | None = Field(
        default=None, description="Opt in to judging keys by their usage."
    )
    dormant_members: DormantMembersPolicy | None = Field(
        default=None, description="Opt in to judging members by their web-app activity."
    )
    warn_days: int | None = Field(
        default=None,
        ge=0,
        description="Warn this many days before an entry, a source or a key expires. Default 14.",
    )
    anomaly: AnomalyPolicy | None = Field(
        default=None,
        description="What `watch` calls an anomaly: a key's hourly spend against its own baseline.",
    )

    @field_validator("max_removals", "max_key_deactivations")
    @classmethod
    def _non_negative(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be 0 or more")
        return value


class IdleKeysPolicy(_Strict):
    """ACTIVE keys with no usage for `after_days` days (or never used and older than that)."""

    after_days: int = Field(ge=1, description="Days without usage after which a key is idle.")
    action: Literal["report", "deactivate"] = Field(
        default="report",
        description="report, or deactivate (unlisted keys only: a key the file lists as "
        "ACTIVE is always only reported). Deactivations count against "
        "max_key_deactivations.",
    )


class DormantMembersPolicy(_Strict):
    """Members with no web-app activity for `after_days` days (needs API 2026-06, which reports
    it)."""

    after_days: int = Field(
        ge=1, description="Days without activity after which a member is dormant."
    )
    action: Literal["report", "remove"] = Field(
        default="report",
        description="report, or remove: a removal the file already asks for (prune_members, "
        "not listed) is marked dormant. Dormancy alone removes nobody.",
    )


class AnomalyPolicy(_Strict):
    """An hour whose spend is `factor` times the key's usual hour, and at least `min_amount`."""

    factor: float = Field(default=5.0, gt=1, description="Times the baseline. Default 5.")
    baseline_days: int = Field(
        default=14,
        ge=1,
        le=60,
        description="Days before the watched hours whose hours of use make the baseline: their "
        "median. Default 14.",
    )
    min_amount: float = Field(
        default=20.0,
        ge=0,
        description="An hour spending less (major units of the key's currency) is never an "
        "anomaly. Default 20.",
    )


class Budget(_Strict):
    """The most a key (or an organization) may spend, per UTC day and per calendar month."""

    daily: float | None = Field(default=None, gt=0, description="Major units: 50 is 50 USD.")
    monthly: float | None = Field(default=None, gt=0, description="Major units, per month.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217.")
    action: Literal["notify", "deactivate", "rotate"] = Field(
        default="notify",
        description="What `watch --contain` does with a key over budget or anomalous: notify "
        "only, deactivate it, or rotate it (a successor delivered, this one deactivated).",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.daily is None and self.monthly is None:
            raise ValueError("a budget gives daily, monthly or both")
        return self


class EffectivePolicy(BaseModel):
    """A policy with every default filled in: what the planner actually obeys."""

    model_config = ConfigDict(frozen=True)

    prune_members: bool = defaults.PRUNE_MEMBERS
    prune_api_keys: bool = defaults.PRUNE_API_KEYS
    min_owners: int = defaults.MIN_OWNERS
    max_removals: int | str = defaults.MAX_REMOVALS
    max_key_deactivations: int | str = defaults.MAX_KEY_DEACTIVATIONS
    protected_members: tuple[str, ...] = ()
    ignore_members: tuple[str, ...] = ()
    idle_keys: IdleKeysPolicy | None = None
    dormant_members: DormantMembersPolicy | None = None
    warn_days: int = defaults.EXPIRY_WARN_DAYS
    anomaly: AnomalyPolicy = AnomalyPolicy()

    @property
    def reads_usage(self) -> bool:
        return self.idle_keys is not None or self.dormant_members is not None

    @property
    def usage_days(self) -> int:
        """Days of usage the rules need to look back."""
        return max(
            rule.after_days for rule in (self.idle_keys, self.dormant_members) if rule is not None
        )

    @classmethod
    def merge(cls, *layers: Policy | None) -> EffectivePolicy:
        values: dict[str, Any] = {}
        for layer in layers:
            if layer is None:
                continue
            for name, value in layer.model_dump(exclude_none=True).items():
                values[name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def removal_limit(self, current_members: int) -> int | None:
        """How many removals this policy allows, or None when no limit applies."""
        if isinstance(self.max_removals, int):
            return self.max_removals
        if current_members < defaults.MAX_REMOVALS_MIN_MEMBERS:
            return None
        percent = int(self.max_removals.rstrip("%"))
        return current_members * percent // 100

    def key_deactivation_limit(self, active_keys: int) -> int:
        """How many key deactivations this policy allows in one plan."""
        if isinstance(self.max_key_deactivations, int):
            return self.max_key_deactivations
        percent = int(self.max_key_deactivations.rstrip("%"))
        return max(defaults.MAX_KEY_DEACTIVATIONS_FLOOR, active_keys * percent // 100)


@dataclass(
    frozen=True,
    slots=True,
    config=ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["email"]}, {"required": ["handle"]}, {"required": ["user_id"]}]
        },
    ),
)
class Member:
    """A person in an organization, identified by exactly one of email, handle or user_id."""

    # A slotted dataclass, not a model: a file lists up to a million of these, and a model per
    # entry (its own __dict__ and set of fields given) took six times the memory. Each field is
    # strict on its own (a strict dataclass would take no mapping at all).

    email: EmailName | None = Field(
        default=None, strict=True, description="Email address (compared case-insensitively)."
    )
    handle: Name | None = Field(
        default=None,
        strict=True,
        description="Ideogram display handle (compared case-insensitively).",
    )
    user_id: Name | None = Field(default=None, strict=True, description="Base64 Ideogram user id.")
    role: Role = Field(default="MEMBER", description="OWNER or MEMBER. Default MEMBER.")
    expires: ExpiryDate | None = Field(default=None, strict=True)
    cost_center: CostCenter | None = Field(default=None, strict=True)

    def __post_init__(self) -> None:
        """Exactly one identifier. A post-init, not an after-validator: an entry validated
        already is taken as it is when its organization is validated, with no second call."""
        if (self.email is None) + (self.handle is None) + (self.user_id is None) == 2:
            return
        given = [name for name in ("email", "handle", "user_id") if getattr(self, name) is not None]
        if len(given) != 1:
            if given:
                raise ValueError(
                    f"a member is identified by exactly one of email, handle, user_id; "
                    f"this one has {' and '.join(given)}"
                )
            raise ValueError("a member needs one of email, handle, user_id")

    @property
    def identity(self) -> Identity:
        """The key two entries must not share (see `reconciler.identity`)."""
        if self.email is not None:
            return identity("email", self.email)
        if self.handle is not None:
            return identity("handle", self.handle)
        return identity("user_id", self.user_id or "")

    @property
    def label(self) -> str:
        return self.email or self.handle or self.user_id or "?"

    @property
    def identity_field(self) -> tuple[Literal["email", "handle", "user_id"], str]:
        """The one identifier the entry gives, as it is written."""
        if self.email is not None:
            return "email", self.email
        if self.handle is not None:
            return "handle", self.handle
        return "user_id", self.user_id or ""


def members_of_plain_emails(emails: list[str]) -> list[Member]:
    """`Member(email=e)` for each address, made without a validation per entry: for a chunk of
    entries that are each `{email: ...}` alone, with every address passed by `plain_emails`, so
    that validating each would change nothing (tests hold the two to equal results). A fifth of
    the cost of validating them, at 100,000 and at 1,000,000 entries alike."""
    new, member = object.__new__, Member
    email, handle, user_id, role, expires, cost_center = (
        getattr(Member, name).__set__  # the slots' own setters: a frozen dataclass has no other
        for name in ("email", "handle", "user_id", "role", "expires", "cost_center")
    )
    made = []
    for address in emails:
        entry = new(member)
        email(entry, address)
        handle(entry, None)
        user_id(entry, None)
        role(entry, "MEMBER")
        expires(entry, None)
        cost_center(entry, None)
        made.append(entry)
    return made


DURATION_PATTERN = r"^[1-9][0-9]{0,6}[smhd]$"
# GitHub's rule for secret names: letters, digits and underscores, not starting with a digit or
# with GITHUB_ (https://docs.github.com/actions/security-guides/using-secrets-in-github-actions)
SECRET_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"
GITHUB_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$"
# an age X25519 recipient (Bech32, lower case) or an SSH public key age encrypts to
AGE_RECIPIENT_PATTERN = r"^(age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( \S+)?)$"


class GithubSecretTarget(_Strict):
    """A GitHub Actions secret: of a repository, of one of its environments, or of an
    organization."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["repository"]}, {"required": ["organization"]}]},
    )

    repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$",
        description="OWNER/NAME of the repository whose secret this is.",
    )
    environment: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[^/\\:*?\"<>|]+$",
        description="An environment of the repository: the secret is that environment's.",
    )
    organization: str | None = Field(
        default=None,
        pattern=GITHUB_NAME_PATTERN,
        description="A GitHub organization: the secret is an organization secret.",
    )
    visibility: Literal["all", "private"] | None = Field(
        default=None,
        description="Organization secrets: which repositories may read it. Default private.",
    )
    name: str = Field(pattern=SECRET_NAME_PATTERN, description="The secret's name.")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.upper().startswith("GITHUB_"):
            raise ValueError(f"{value!r}: GitHub reserves secret names that start with GITHUB_")
        return value

    @model_validator(mode="after")
    def _one_scope(self) -> GithubSecretTarget:
        if (self.repository is None) == (self.organization is None):
            raise ValueError("a github_secret names exactly one of repository, organization")
        if self.environment is not None and self.repository is None:
            raise ValueError("environment names an environment of a repository: give repository")
        if self.visibility is not None and self.organization is None:
            raise ValueError("visibility is for organization secrets: give organization")
        return self


class GithubSecretSink(_Strict):
    github_secret: GithubSecretTarget

    def describe(self) -> str:
        target = self.github_secret
        if target.organization is not None:
            return f"github_secret {target.name} of organization {target.organization}"
        where = f"environment {target.environment} of " if target.environment else ""
        return f"github_secret {target.name} of {where}{target.repository}"

    @property
    def kind(self) -> str:
        return "github_secret"


def _age_recipient(value: str) -> str:
    if re.fullmatch(AGE_RECIPIENT_PATTERN, value) is None:
        raise ValueError(
            f"{value[:80]!r} is not an age recipient: an age1... public key (age-keygen -y) or "
            "an ssh-ed25519 / ssh-rsa public key"
        )
    return value


class AgeFileTarget(_Strict):
    """A file encrypted with age to its recipients, which the standard `age` tool decrypts."""

    path: str = Field(
        min_length=1, max_length=4096, description="Relative to this file's folder, or absolute."
    )
    recipients: list[Annotated[str, AfterValidator(_age_recipient)]] = Field(
        min_length=1,
        description="age1... public keys (or SSH public keys) that may decrypt it.",
        json_schema_extra={"items": {"type": "string", "pattern": AGE_RECIPIENT_PATTERN}},
    )


class AgeFileSink(_Strict):
    age_file: AgeFileTarget

    def describe(self) -> str:
        return f"age_file {self.age_file.path} ({len(self.age_file.recipients)} recipient(s))"

    @property
    def kind(self) -> str:
        return "age_file"


class FileTarget(_Strict):
    """The local secrets file: JSON Lines, mode 0600, readable by its owner alone."""

    path: str = Field(
        min_length=1, max_length=4096, description="Relative to this file's folder, or absolute."
    )


class FileSink(_Strict):
    file: FileTarget

    def describe(self) -> str:
        return f"file {self.file.path}"

    @property
    def kind(self) -> str:
        return "file"


def _sink_kind(value: Any) -> str | None:
    """Which kind of sink an entry is: its one key (`github_secret: {...}`), so a mistake inside
    one is reported for that kind alone, not as three failed guesses."""
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return str(getattr(value, "kind", None))
    return None


Sink = Annotated[
    Annotated[GithubSecretSink, Tag("github_secret")]
    | Annotated[AgeFileSink, Tag("age_file")]
    | Annotated[FileSink, Tag("file")],
    Discriminator(
        _sink_kind,
        custom_error_type="sink_kind",
        custom_error_message="a sink is one of github_secret, age_file, file: {kind: {...}}",
    ),
]
# the sinks a CI runner can deliver to: a copy that outlives the job (a GitHub secret; an encrypted
# file the workflow keeps), not a plain file in a workspace thrown away with it
RUNNER_REACHABLE_SINKS = frozenset({"github_secret", "age_file"})


class RotateSpec(_Strict):
    """Replace the key on a schedule, the old one kept ACTIVE through an overlap."""

    every: str = Field(
        pattern=DURATION_PATTERN, description="Rotate a key this long after it was created: 90d."
    )
    overlap: str = Field(
        pattern=DURATION_PATTERN,
        description="How long the predecessor stays ACTIVE beside its successor: 7d.",
    )

    @model_validator(mode="after")
    def _overlap_within_period(self) -> RotateSpec:
        if duration_seconds(self.overlap) >= duration_seconds(self.every):
            raise ValueError(f"overlap ({self.overlap}) must be shorter than every ({self.every})")
        return self

    @property
    def every_seconds(self) -> int:
        return duration_seconds(self.every)

    @property
    def overlap_seconds(self) -> int:
        return duration_seconds(self.overlap)


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class ApiKeySpec:
    """A key the organization keeps. The mapping's key is a local label: Ideogram keys have no
    names."""

    # A slotted dataclass, as Member: a model per key (its own __dict__ and set of fields given)
    # held 70 MB for 100,000 keys. Its text fields are strict on their own (a strict dataclass
    # would take no mapping at all); its models and literal are strict by their own rules.

    id: Name | None = Field(
        default=None,
        strict=True,
        description="The api_key_id this label is bound to. Omit it to ask for a new key.",
    )
    status: KeyStatus = Field(default="ACTIVE", description="ACTIVE or DISABLED. Default ACTIVE.")
    deliver_to: list[Sink] = Field(
        default_factory=list,
        strict=True,  # a list, as a strict model's field
        description="Where a new key's secret goes, every one of them, before the key is bound. "
        "Without it, to apply's --secrets-file.",
    )
    rotate: RotateSpec | None = Field(
        default=None, description="Replace the key every so often, with an overlap."
    )
    expires: ExpiryDate | None = Field(default=None, strict=True)
    cost_center: CostCenter | None = Field(default=None, strict=True)
    budget: Budget | None = Field(
        default=None, description="Spend limits `watch` holds the key to."
    )

    def __post_init__(self) -> None:
        if self.id is None and self.status == "DISABLED":
            raise ValueError("a key without an id asks for a new key, which cannot start DISABLED")


class Organization(_Strict):
    id: Name | None = Field(
        default=None,
        description="Base64 organization id. Without it the organization is matched "
        "by profile name.",
    )
    name: Name | None = Field(
        default=None,
        description="Profile name to match when no id is given. Default: the "
        "organization's key in this file.",
    )
    policy: Policy | None = None
    members: list[Member] = Field(default_factory=list)
    api_keys: dict[Name, ApiKeySpec] = Field(default_factory=dict)
    sources: list[Source] = Field(
        default_factory=list,
        description="Where more members come from: team files, an HR export, a directory "
        "group. An entry of `members` wins over every source; among sources the highest role.",
    )
    source_policy: SourcePolicy | None = None
    budget: Budget | None = Field(
        default=None,
        description="Spend limits `watch` holds the whole organization to (action: notify).",
    )

    @field_validator("budget")
    @classmethod
    def _organization_budget_notifies(cls, value: Budget | None) -> Budget | None:
        if value is not None and value.action != "notify":
            raise ValueError(
                "an organization's budget can only notify: deactivate or rotate a key's budget"
            )
        return value


class TeamFile(_Strict):
    """A fragment a `file` source names: a team's own `members:` list."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, title="ideogram-org team file"
    )

    members: list[Member] = Field(default_factory=list)
    max_duration: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{0,4}d$",
        description="Every entry needs an `expires` at most this far ahead (90d).",
    )


_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """`90s`, `15m`, `2h`, `7d` in seconds (the pattern is checked by the model first)."""
    found = _DURATION.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 15m, 2h or 7d")
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2)]


class StateConfig(_Strict):
    """Where the audit chain, the locks and the key bindings live. Every machine that applies
    the file must use the same store: the file says which."""

    backend: Literal["local", "git"] = Field(
        default="local",
        description="local: files on this machine (the audit log, flock'd locks, ids written "
        "back into this file). git: a branch that every runner and laptop reaches.",
    )
    url: str = Field(
        default="origin",
        min_length=1,
        max_length=2048,
        description="git: a remote's name in the repository holding this file, or a URL. "
        "Default: origin.",
    )
    branch: str = Field(
        default=defaults.STATE_BRANCH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_/-]*(\.[A-Za-z0-9_/-]+)*$",
        max_length=200,
        description="git: the branch holding the state. Default: ideogram-org-state.",
    )
    lease: str = Field(
        default=defaults.STATE_LEASE,
        pattern=DURATION_PATTERN,
        description="git: how long a lock outlives a run that stopped renewing it (a killed "
        "runner), such as 15m. Default: 15m.",
    )

    @property
    def lease_seconds(self) -> int:
        return duration_seconds(self.lease)


NotifyEvent = Literal["apply", "drift", "budget", "expiry", "dormant"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("apply", "drift", "budget", "expiry", "dormant")


class WebhookTarget(_Strict):
    url_env: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="The variable holding the URL (a URL is a secret: never in the file).",
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        min_length=1,
        description="Which events it hears of. Default all: apply, drift, budget, expiry, dormant.",
    )


class WebhookNotifier(_Strict):
    webhook: WebhookTarget = Field(description="Generic JSON events (schemas/event.schema.json).")

    @property
    def target(self) -> WebhookTarget:
        return self.webhook


class SlackNotifier(_Strict):
    slack: WebhookTarget = Field(description="A Slack incoming webhook.")

    @property
    def target(self) -> WebhookTarget:
        return self.slack


def _notifier_kind(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return "webhook" if isinstance(value, WebhookNotifier) else "slack"
    return None


Notifier = Annotated[
    Annotated[WebhookNotifier, Tag("webhook")] | Annotated[SlackNotifier, Tag("slack")],
    Discriminator(
        _notifier_kind,
        custom_error_type="notifier_kind",
        custom_error_message="a notifier is one of webhook, slack: {kind: {url_env: ...}}",
    ),
]


class DesiredState(_Strict):
    """The whole file."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        title="ideogram-org desired state (format version 1)",
    )

    version: Literal[1] = Field(description="Format version of this file. Only 1 exists.")
    state: StateConfig | None = None
    policy: Policy | None = None
    organizations: dict[Name, Organization] = Field(
        description="Organizations by local name.", min_length=1
    )
    notify: list[Notifier] = Field(
        default_factory=list,
        description="Who hears of applies, drift, budgets, expiries and dormant members.",
    )

    def effective_policy(self, org_name: str) -> EffectivePolicy:
        return EffectivePolicy.merge(self.policy, self.organizations[org_name].policy)

    def key_spec(self, organization: str, label: str) -> ApiKeySpec | None:
        """The entry of `label` under `organization`'s api_keys, if the file lists it."""
        org = self.organizations.get(organization)
        return org.api_keys.get(label) if org is not None else None


def desired_state_json_schema() -> dict[str, Any]:
    schema = DesiredState.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema}
