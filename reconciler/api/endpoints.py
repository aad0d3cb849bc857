"""The management API's endpoints, once: the client, the dry-run output, the sandbox and its fault
injection all read this table, so a path or an operation id is spelled in exactly one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ApiVersion = Literal["2025-10", "2026-06"]
API_VERSIONS: tuple[ApiVersion, ...] = ("2025-10", "2026-06")
API_VERSION_CHOICES: tuple[str, ...] = (
    "auto",
    *API_VERSIONS,
)  # "auto": tell them apart from the answers
BOTH: frozenset[ApiVersion] = frozenset(API_VERSIONS)


@dataclass(frozen=True)
class Endpoint:
    operation_id: str
    method: Literal["GET", "POST"]
    path: str
    versions: frozenset[ApiVersion] = BOTH

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def exists_in(self, version: str) -> bool:
        return version in self.versions


GET_PROFILES = Endpoint("get_api_profiles", "GET", "/manage/api/profiles")
GET_MEMBERS = Endpoint("get_organization_members", "GET", "/manage/api/organization/members")
GET_ORG_KEYS = Endpoint(
    "get_api_keys_v2", "GET", "/manage/api/organization/api_keys", frozenset({"2026-06"})
)
ADD_MEMBERS = Endpoint("add_organization_members", "POST", "/manage/api/organization/add_members")
PROMOTE_MEMBERS = Endpoint(
    "promote_organization_members", "POST", "/manage/api/organization/promote_members"
)
REMOVE_MEMBERS = Endpoint(
    "remove_organization_members", "POST", "/manage/api/organization/remove_members"
)
DEACTIVATE_KEY = Endpoint(
    "deactivate_organization_api_key", "POST", "/manage/api/organization/deactivate_api_key"
)
CREATE_KEY = Endpoint("create_api_key_v2", "POST", "/manage/api/api_keys_v2")
GET_USAGE = Endpoint("get_usage_info", "GET", "/manage/api/usage")
GET_SPEND_COMMIT = Endpoint("get_user_spend_commit_info", "GET", "/manage/api/spend_commit")
GET_CREDITS = Endpoint("get_user_credits", "GET", "/manage/api/credits")
GET_USER_SUGGESTIONS = Endpoint(
    "get_api_organization_user_suggestions",
    "GET",
    "/manage/api/organization/user_suggestions",
    frozenset({"2026-06"}),
)

LIST_INVOICES = Endpoint(
    "list_organization_invoices",
    "GET",
    "/manage/api/organization/list_invoices",
    frozenset({"2026-06"}),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    GET_PROFILES,
    GET_MEMBERS,
    GET_ORG_KEYS,
    ADD_MEMBERS,
    PROMOTE_MEMBERS,
    REMOVE_MEMBERS,
    DEACTIVATE_KEY,
    CREATE_KEY,
    GET_USAGE,
    GET_SPEND_COMMIT,
    GET_CREDITS,
    GET_USER_SUGGESTIONS,
    LIST_INVOICES,
)
BY_ROUTE: dict[tuple[str, str], Endpoint] = {(e.method, e.path): e for e in ENDPOINTS}
BY_OPERATION: dict[str, Endpoint] = {e.operation_id: e for e in ENDPOINTS}


@dataclass(frozen=True)
class Capabilities:
    """What a version of the API can tell, beside its endpoints: code asks these, never the
    version's name."""

    lists_organization_keys: bool  # get_api_keys_v2
    member_full_name: bool  # `full_name` on members (optional even there)
    usage_per_person: bool  # usage rows with user_email_address (web-app use)
    member_results: bool  # member calls answer one result per member, not 204 or 400
    user_suggestions: bool  # handle prefix search, with whether each user joined
    invoices: bool  # monthly invoices, line items per key (list_organization_invoices)


CAPABILITIES: dict[str, Capabilities] = {
    "2025-10": Capabilities(
        lists_organization_keys=False,
        member_full_name=False,
        usage_per_person=False,
        member_results=False,
        user_suggestions=False,
        invoices=False,
    ),
    "2026-06": Capabilities(
        lists_organization_keys=True,
        member_full_name=True,
        usage_per_person=True,
        member_results=True,
        user_suggestions=True,
        invoices=True,
    ),
}


def capabilities(version: str) -> Capabilities:
    """The capabilities of a version; a version this tool does not know has the fewest."""
    return CAPABILITIES.get(version, CAPABILITIES["2025-10"])
