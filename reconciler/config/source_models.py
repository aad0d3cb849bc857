"""The `sources:` of an organization, as pydantic models: where members come from besides the
file's own `members:` list. One model per kind; each entry is `{KIND: {...}, role: ...}`.

Credentials are never in the file: an LDAP bind DN and password, a SCIM token, are named by the
environment variables that hold them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from ..model.live import Role
from .fields import CostCenter, ExpiryDate

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
DURATION_DAYS = r"^[1-9][0-9]{0,4}d$"  # whole days: an expiry is a date
DOMAIN = r"^([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _member_only() -> list[Role]:
    return ["MEMBER"]


class FileSourceSpec(_Strict):
    """A team's own file, holding `members:` as an organization does; CODEOWNERS guards it."""

    path: str = Field(min_length=1, max_length=4096, description="Relative to this file.")
    may_grant: list[Role] = Field(
        default_factory=_member_only,
        min_length=1,
        description="The roles its entries may give. Default MEMBER only.",
    )
    domains: list[Annotated[str, Field(pattern=DOMAIN, max_length=253)]] = Field(
        default_factory=list,
        description="When given, every entry is an email in one of these domains.",
    )
    max_members: int | None = Field(default=None, ge=0, description="The most entries it may hold.")
    max_duration: str | None = Field(
        default=None,
        pattern=DURATION_DAYS,
        description="Every entry needs an `expires` at most this far ahead (90d): access that "
        "cannot be forgotten.",
    )


class CsvSourceSpec(_Strict):
    """An HR export: one person per row, read by column names."""

    path: str = Field(min_length=1, max_length=4096, description="Relative to this file.")
    email: str = Field(min_length=1, description="The column holding the work email.")
    where: dict[str, str] = Field(
        default_factory=dict,
        description="Only rows whose columns equal these values (compared exactly).",
    )


class LdapSourceSpec(_Strict):
    """The members of a directory group (`member`, `uniqueMember`, or `memberOf` on people)."""

    url: str = Field(
        pattern=r"^ldaps?://[^\s/]+/?$",
        description="ldaps://HOST[:PORT], or ldap:// (StartTLS; plain only to loopback).",
    )
    bind_dn_env: str = Field(pattern=ENV_NAME, description="The variable holding the bind DN.")
    password_env: str = Field(pattern=ENV_NAME, description="The variable holding its password.")
    group: str = Field(min_length=3, description="The group's DN.")
    base: str | None = Field(
        default=None,
        description="Where people are searched (memberOf, and emails of member DNs). Default: "
        "the group's naming context (its dc= components).",
    )
    nested: bool = Field(default=True, description="Members of member groups count too.")
    email_attribute: str = Field(default="mail", pattern=r"^[A-Za-z][A-Za-z0-9-]*$")
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds per operation.")


class ScimSourceSpec(_Strict):
    """The members of a group of a SCIM 2.0 service (RFC 7644), by its displayName."""

    url: str = Field(pattern=r"^https?://\S+$", description="The service's base URL.")
    token_env: str = Field(pattern=ENV_NAME, description="The variable holding a bearer token.")
    group: str = Field(min_length=1, description="The group's displayName.")
    timeout: float = Field(default=10.0, gt=0, le=300)


class PluginSourceSpec(_Strict):
    """A source another package provides, under the entry point group `ideogram_org.sources`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="The entry point's name.")
    options: dict[str, Any] = Field(default_factory=dict, description="Given to it as they are.")


class _Source(_Strict):
    role: Role = Field(default="MEMBER", description="The role its people get. Default MEMBER.")
    expires: ExpiryDate | None = None
    cost_center: CostCenter | None = None


class FileSource(_Source):
    file: FileSourceSpec

    def describe(self) -> str:
        return f"file {self.file.path}"

    @model_validator(mode="after")
    def _role_granted(self) -> FileSource:
        if self.role not in self.file.may_grant:
            raise ValueError(f"role {self.role} is not in may_grant {self.file.may_grant}")
        return self


class CsvSource(_Source):
    csv: CsvSourceSpec

    def describe(self) -> str:
        return f"csv {self.csv.path}"


class LdapSource(_Source):
    ldap: LdapSourceSpec

    def describe(self) -> str:
        return f"ldap {self.ldap.group}"


class ScimSource(_Source):
    scim: ScimSourceSpec

    def describe(self) -> str:
        return f"scim group {self.scim.group}"


class PluginSource(_Source):
    plugin: PluginSourceSpec

    def describe(self) -> str:
        return f"plugin {self.plugin.name}"


KINDS = ("file", "csv", "ldap", "scim", "plugin")


def _source_kind(value: Any) -> str | None:
    """The kind of a source entry: the one of its keys that names a kind."""
    if isinstance(value, dict):
        found = [key for key in value if key in KINDS]
        return str(found[0]) if len(found) == 1 else None
    if isinstance(value, BaseModel):
        return next((kind for kind in KINDS if kind in type(value).model_fields), None)
    return None


Source = Annotated[
    Annotated[FileSource, Tag("file")]
    | Annotated[CsvSource, Tag("csv")]
    | Annotated[LdapSource, Tag("ldap")]
    | Annotated[ScimSource, Tag("scim")]
    | Annotated[PluginSource, Tag("plugin")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a source is one of file, csv, ldap, scim, plugin: {kind: {...}}",
    ),
]


class SourcePolicy(_Strict):
    allow_empty: bool = Field(
        default=False,
        description="Accept a source that returns nobody. Default false: an empty answer is "
        "refused, so a broken directory never empties the organization.",
    )
    on_error: Literal["fail"] = Field(
        default="fail",
        description="A source that errors or times out fails the plan: nothing is sent.",
    )
