"""Reading the live organizations into an immutable snapshot the planner can diff against.

Cost on a 2025-10 server: 1 (profiles) + 1 per organization (members). A 2026-06 server is told
apart by the `full_name` its member records carry; only then is its org key list read as well.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .client import ApiReader
from .errors import OrganizationNotFoundError, UsageError
from .models import DesiredState
from .wire import ApiKeyInfo, ApiProfile

API_VERSION_CHOICES = ("auto", "2025-10", "2026-06")


@dataclass(frozen=True)
class LiveMember:
    user_id: str
    email: str
    handle: str
    role: str


@dataclass(frozen=True)
class LiveKey:
    api_key_id: str
    redacted: str
    status: str
    creation_time: str = ""


@dataclass(frozen=True)
class LiveOrganization:
    name: str  # local name in the desired file (or the profile name, for export)
    organization_id: str
    profile_name: str
    caller_role: str
    inflight_limit: int
    members: tuple[LiveMember, ...]
    keys: tuple[LiveKey, ...]

    def snapshot(self) -> dict:
        return {
            "organization_id": self.organization_id,
            "caller_role": self.caller_role,
            "members": {m.user_id: {"email": m.email.lower(), "handle": m.handle.lower(), "role": m.role}
                        for m in sorted(self.members, key=lambda m: m.user_id)},
            "keys": {k.api_key_id: k.status for k in sorted(self.keys, key=lambda k: k.api_key_id)},
        }


@dataclass(frozen=True)
class LiveState:
    organizations: dict[str, LiveOrganization]
    api_version: str  # what the server was found (or told) to speak
    warnings: tuple[str, ...] = field(default=())

    def snapshot(self) -> dict:
        """Plain data for fingerprints and for explaining differences (deepdiff)."""
        return {name: org.snapshot() for name, org in sorted(self.organizations.items())}

    def fingerprint(self) -> str:
        canonical = json.dumps(self.snapshot(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _describe(profiles: Iterable[ApiProfile]) -> str:
    seen = [f"{p.name!r} ({p.organization_id})" for p in profiles if p.type == "ENTERPRISE"]
    return ", ".join(seen) if seen else "no enterprise organizations"


def match_organizations(desired: DesiredState, profiles: list[ApiProfile],
                        only: Iterable[str] = ()) -> dict[str, ApiProfile]:
    """Desired organization (local name) -> the profile it means: by id, else by profile name."""
    only = list(only)
    unknown = [name for name in only if name not in desired.organizations]
    if unknown:
        raise UsageError(f"--org {unknown[0]!r} is not in the desired-state file "
                         f"(it has: {', '.join(desired.organizations)})")
    enterprise = [p for p in profiles if p.type == "ENTERPRISE"]
    matched: dict[str, ApiProfile] = {}
    for local_name, org in desired.organizations.items():
        if only and local_name not in only:
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
    warnings = []
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

    workers = max(1, min(len(matched), 8))
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


def explain_differences(old: dict, new: dict, limit: int = 20) -> list[str]:
    """What changed between two live snapshots, one line per difference, for people to read."""
    from deepdiff import DeepDiff

    diff = DeepDiff(old, new, view="tree")
    lines: list[str] = []

    def member_label(org: str, user_id: str, *snapshots: dict) -> str:
        for snapshot in snapshots:
            member = snapshot.get(org, {}).get("members", {}).get(user_id)
            if member:
                return member.get("email") or member.get("handle") or user_id
        return user_id

    for kind, levels in diff.items():
        for level in levels:
            path = level.path(output_format="list")
            org = path[0] if path else "?"
            area = path[1] if len(path) > 1 else ""
            item = path[2] if len(path) > 2 else ""
            if area == "members" and kind == "dictionary_item_added" and len(path) == 3:
                lines.append(f"{org}: {member_label(org, item, new)} joined as {level.t2.get('role')}")
            elif area == "members" and kind == "dictionary_item_removed" and len(path) == 3:
                lines.append(f"{org}: {member_label(org, item, old)} left (was {level.t1.get('role')})")
            elif area == "members" and len(path) == 4:
                lines.append(f"{org}: {member_label(org, item, new, old)}: {path[3]} {level.t1} -> {level.t2}")
            elif area == "keys" and kind == "dictionary_item_added":
                lines.append(f"{org}: key {item} appeared ({level.t2})")
            elif area == "keys" and kind == "dictionary_item_removed":
                lines.append(f"{org}: key {item} is gone")
            elif area == "keys":
                lines.append(f"{org}: key {item}: {level.t1} -> {level.t2}")
            elif kind == "dictionary_item_added" and len(path) == 1:
                lines.append(f"{org}: organization now read as well")
            elif kind == "dictionary_item_removed" and len(path) == 1:
                lines.append(f"{org}: organization no longer read")
            else:
                lines.append(f"{'.'.join(map(str, path))}: {level.t1!r} -> {level.t2!r}")
    lines.sort()
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more difference(s)"]
    return lines
