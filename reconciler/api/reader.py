"""Reading the live organizations into an immutable `LiveState` the planner can diff against.

Cost on a 2025-10 server: 1 (profiles) + 1 per organization (members). A 2026-06 server is told
apart by the `full_name` its member records carry; only then is its org key list read as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from ..config.models import DesiredState
from ..defaults import READ_WORKERS
from ..errors import OrganizationNotFoundError, UsageError
from ..live_state import LiveKey, LiveMember, LiveOrganization, LiveState
from .client import ApiReader
from .endpoints import API_VERSION_CHOICES
from .wire import ApiKeyInfo, ApiProfile


def _describe(profiles: Iterable[ApiProfile]) -> str:
    seen = [f"{p.name!r} ({p.organization_id})" for p in profiles if p.type == "ENTERPRISE"]
    return ", ".join(seen) if seen else "no enterprise organizations"


def match_organizations(desired: DesiredState, profiles: list[ApiProfile],
                        only: Iterable[str] = ()) -> dict[str, ApiProfile]:
    """Desired organization (local name) -> the profile it means: by id, else by profile name."""
    selected = list(only)
    unknown = [name for name in selected if name not in desired.organizations]
    if unknown:
        raise UsageError(f"--org {unknown[0]!r} is not in the desired-state file "
                         f"(it has: {', '.join(desired.organizations)})")
    enterprise = [p for p in profiles if p.type == "ENTERPRISE"]
    matched: dict[str, ApiProfile] = {}
    for local_name, org in desired.organizations.items():
        if selected and local_name not in selected:
            continue
        if org.id is not None:
            found = [p for p in enterprise if p.organization_id == org.id]
            what = f"id {org.id}"
        else:
            wanted = (org.name or local_name).casefold()
            found = [p for p in enterprise if p.name.casefold() == wanted]
            what = f"profile name {org.name or local_name!r}"
        if not found:
            raise OrganizationNotFoundError(
                f"organization {local_name!r} ({what}) is not among the organizations this token can see: "
                f"{_describe(profiles)}")
        if len(found) > 1:
            raise OrganizationNotFoundError(
                f"organization {local_name!r} ({what}) matches {len(found)} profiles; give its id")
        matched[local_name] = found[0]
    return matched


def read_organizations(reader: ApiReader, matched: dict[str, ApiProfile],
                       api_version: str = "auto") -> LiveState:
    """Members of every organization concurrently; org key lists where the server has them."""
    if api_version not in API_VERSION_CHOICES:
        raise UsageError(f"api version must be one of {', '.join(API_VERSION_CHOICES)}")
    if matched:
        reader.set_inflight_limit(min(p.max_num_inflight_requests_permitted for p in matched.values()))
    warnings: list[str] = []
    for local_name, profile in matched.items():
        if profile.role != "OWNER":
            warnings.append(f"you are {profile.role} of {local_name!r}, not OWNER: the API will refuse "
                            f"every change apply would make")

    def read_one(item: tuple[str, ApiProfile]) -> tuple[LiveOrganization, bool]:
        local_name, profile = item
        members, speaks_2026 = reader.get_members(profile.organization_id)
        keys: dict[str, ApiKeyInfo] = {k.api_key_id: k for k in profile.api_keys}
        wants_keys = api_version == "2026-06" or (api_version == "auto" and speaks_2026)
        if wants_keys:
            listed = reader.get_org_keys(profile.organization_id)
            for key in listed or []:
                keys[key.api_key_id] = key
        org = LiveOrganization(
            name=local_name, organization_id=profile.organization_id, profile_name=profile.name,
            caller_role=profile.role, inflight_limit=profile.max_num_inflight_requests_permitted,
            members=tuple(LiveMember(m.user_id, m.email_address, m.display_handle, m.role) for m in members),
            keys=tuple(LiveKey(k.api_key_id, k.redacted_api_key, k.status or "ACTIVE", k.creation_time)
                       for k in keys.values()),
        )
        return org, speaks_2026

    workers = max(1, min(len(matched), READ_WORKERS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        results = list(pool.map(read_one, matched.items()))
    detected = api_version
    if api_version == "auto":
        detected = "2026-06" if any(flag for _, flag in results) else "2025-10"
    return LiveState(organizations={org.name: org for org, _ in results}, api_version=detected,
                     warnings=tuple(warnings))


def read_live_state(reader: ApiReader, desired: DesiredState, only: Iterable[str] = (),
                    api_version: str = "auto") -> LiveState:
    profiles = reader.get_profiles()
    return read_organizations(reader, match_organizations(desired, profiles, only), api_version)


def select_profiles(profiles: list[ApiProfile], only: Iterable[str] = ()) -> dict[str, ApiProfile]:
    """Enterprise profiles by profile name, optionally only those named (by name or id): for export."""
    enterprise = [p for p in profiles if p.type == "ENTERPRISE"]
    wanted = [o.casefold() for o in only]
    chosen = {p.name: p for p in enterprise
              if not wanted or p.name.casefold() in wanted or p.organization_id.casefold() in wanted}
    if wanted and not chosen:
        raise OrganizationNotFoundError(f"no organization named {', '.join(only)}; this token can see: "
                                        f"{_describe(profiles)}")
    return chosen

