"""Reading the live organizations into an immutable `LiveState` the planner can diff against.

Cost: 1 (profiles) + 1 per organization (members), + 1 per organization (key lists) on a 2026-06
server, + at most 1 (the version probe) on a 2025-10 server. See `_detect_version`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from ..config.models import DesiredState
from ..defaults import READ_PROGRESS_AFTER, READ_WORKERS
from ..errors import ForbiddenError, NotFoundError, OrganizationNotFoundError, UsageError
from ..model.live import LiveKey, LiveMember, LiveOrganization, LiveState
from .client import ApiReader
from .clock import SYSTEM_CLOCK, Clock
from .endpoints import API_VERSION_CHOICES
from .wire import ApiKeyInfo, ApiProfile, OrganizationMember

log = logging.getLogger("ideogram_org.reader")
KNOWN_PROFILE_TYPES = ("INDIVIDUAL", "ENTERPRISE")
MAX_ID_LENGTH = 256  # characters of a key id the tool will name anywhere


def _unique_enterprise(profiles: Iterable[ApiProfile]) -> list[ApiProfile]:
    """ENTERPRISE profiles, each organization once: a server may list one organization twice."""
    seen: dict[str, ApiProfile] = {}
    for profile in profiles:
        if profile.type == "ENTERPRISE":
            seen.setdefault(profile.organization_id, profile)
    return list(seen.values())


def _describe(profiles: Iterable[ApiProfile]) -> str:
    seen = [f"{p.name!r} ({p.organization_id})" for p in profiles if p.type == "ENTERPRISE"]
    return ", ".join(seen) if seen else "no enterprise organizations"


def match_organizations(
    desired: DesiredState, profiles: list[ApiProfile], only: Iterable[str] = ()
) -> dict[str, ApiProfile]:
    """Desired organization (local name) -> the profile it means: by id, else by profile name."""
    selected = list(only)
    unknown = [name for name in selected if name not in desired.organizations]
    if unknown:
        raise UsageError(
            f"--org {unknown[0]!r} is not in the desired-state file "
            f"(it has: {', '.join(desired.organizations)})"
        )
    matched: dict[str, ApiProfile] = {}
    for local_name, org in desired.organizations.items():
        if selected and local_name not in selected:
            continue
        if org.id is not None:
            candidates = [p for p in profiles if p.organization_id == org.id]
            what = f"id {org.id}"
        else:
            wanted = (org.name or local_name).casefold()
            candidates = [
                p for p in profiles if p.name.casefold() == wanted and p.type != "INDIVIDUAL"
            ]
            what = f"profile name {org.name or local_name!r}"
        found = _unique_enterprise(candidates)
        strange = [p for p in candidates if p.type not in KNOWN_PROFILE_TYPES]
        if not found and strange:
            raise OrganizationNotFoundError(
                f"organization {local_name!r} ({what}) is a profile of type {strange[0].type!r}, "
                "which this "
                f"version of ideogram-org does not know: it manages ENTERPRISE organizations only"
            )
        if not found:
            raise OrganizationNotFoundError(
                f"organization {local_name!r} ({what}) is not among the organizations this token "
                "can see: "
                f"{_describe(profiles)}"
            )
        if len(found) > 1:
            raise OrganizationNotFoundError(
                f"organization {local_name!r} ({what}) matches {len(found)} profiles; give its id"
            )
        matched[local_name] = found[0]
    return matched


class _Probe:
    """What the version probe learnt about the first organization's key list."""

    def __init__(self, keys: list[ApiKeyInfo] | None, readable: bool, hidden: bool = False) -> None:
        self.keys, self.readable = keys, readable
        self.hidden = hidden  # answered 404 although --api-version 2026-06 was given


def _detect_version(
    reader: ApiReader, matched: dict[str, ApiProfile], saw_full_name: bool, api_version: str
) -> tuple[str, dict[str, _Probe], str]:
    """The version the server speaks, at the cost of at most one call (the probe), and the
    evidence that decided it (shown with -v and in JSON output).

    `full_name` on a member record proves 2026-06, but its absence proves nothing (it is optional
    there). Without that proof, the organization key list, which only 2026-06 has, is asked for
    once: a 404 means 2025-10 (or a 2026-06 server that hides the call: `--api-version 2026-06`
    settles it), an answer (or a 403: the call exists) means 2026-06.
    """
    if api_version == "2025-10":
        if saw_full_name:
            raise UsageError(
                "--api-version 2025-10, but the server's member records carry full_name, which "
                "only 2026-06 has: drop --api-version (auto) or pass 2026-06"
            )
        return api_version, {}, "--api-version 2025-10 was given"
    if api_version == "2026-06":
        return "2026-06", {}, "--api-version 2026-06 was given"
    if saw_full_name:
        return "2026-06", {}, "member records carry full_name, which only 2026-06 has"
    if not matched:
        return "unknown", {}, "no organization was read"
    name, profile = next(iter(matched.items()))
    try:
        keys = reader.get_org_keys(profile.organization_id)
    except NotFoundError:
        return (
            "2025-10",
            {},
            (
                "no full_name on member records, and the organization key list (2026-06 only) "
                "answered 404; if the server speaks 2026-06, say so with --api-version 2026-06"
            ),
        )
    except ForbiddenError:
        return (
            "2026-06",
            {name: _Probe(None, False)},
            ("the organization key list (2026-06 only) answered 403: the call exists"),
        )
    return (
        "2026-06",
        {name: _Probe(keys, True)},
        ("the organization key list (2026-06 only) answered"),
    )


def _org_keys(reader: ApiReader, profile: ApiProfile, forced: bool) -> _Probe:
    try:
        return _Probe(reader.get_org_keys(profile.organization_id), True)
    except NotFoundError:
        if forced:  # the user said 2026-06: a server that hides the key list is taken at its word
            return _Probe(None, False, hidden=True)
        raise
    except ForbiddenError:
        return _Probe(None, False)


_ROLE_PRECEDENCE = {"OWNER": 0, "MEMBER": 1}  # any other role outranks both: it is never touched


def _unique_members(records: list[OrganizationMember]) -> tuple[list[LiveMember], list[str]]:
    """One member per user id. A server that lists someone twice with two roles is taken at the
    lower
    known role: counting an owner too few never lets a removal break min_owners."""
    roles = {role: role for role in _ROLE_PRECEDENCE}  # the records' shared roles, as plain str
    listed = [
        LiveMember(r.user_id, r.email_address, r.display_handle, roles.get(r.role) or str(r.role))
        for r in records
    ]
    user_ids = {member.user_id for member in listed}
    if len(user_ids) == len(listed) and "" not in user_ids:  # each listed once (nearly always)
        return listed, []
    by_id: dict[str, LiveMember] = {}
    members: list[LiveMember] = []
    repeated: list[str] = []
    for member in listed:
        if not member.user_id:
            members.append(member)
            continue
        seen = by_id.get(member.user_id)
        if seen is None:
            by_id[member.user_id] = member
            continue
        repeated.append(member.user_id)
        if _ROLE_PRECEDENCE.get(member.role, 2) > _ROLE_PRECEDENCE.get(seen.role, 2):
            by_id[member.user_id] = member
    return list(by_id.values()) + members, repeated


def usable_id(key_id: str) -> bool:
    """An id the tool can name in a call, a file and a report: printable text of reasonable
    length. A key whose id is not is left out of the live state (never acted on)."""
    return 0 < len(key_id) <= MAX_ID_LENGTH and key_id.isprintable() and key_id.strip() == key_id


def _live_organization(
    local_name: str, profile: ApiProfile, members: list[OrganizationMember], probe: _Probe | None
) -> LiveOrganization:
    keys: dict[str, ApiKeyInfo] = {k.api_key_id: k for k in profile.api_keys}
    for key in (probe.keys or []) if probe else []:
        keys[key.api_key_id] = key
    keys = {key_id: key for key_id, key in keys.items() if usable_id(key_id)}
    unique, repeated = _unique_members(members)
    return LiveOrganization(
        name=local_name,
        organization_id=profile.organization_id,
        profile_name=profile.name,
        caller_role=profile.role,
        inflight_limit=profile.max_num_inflight_requests_permitted,
        members=tuple(unique),
        repeated=tuple(dict.fromkeys(repeated)),
        keys=tuple(
            LiveKey(k.api_key_id, k.redacted_api_key, k.status or "", k.creation_time)
            for k in keys.values()
        ),
    )


class _ReadProgress:
    """After READ_PROGRESS_AFTER seconds, a line every so often: how many organizations are read."""

    def __init__(
        self, report: Callable[[str], None] | None, total: int, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.report, self.total, self.done = report, total, 0
        self.lock = threading.Lock()  # several read workers tick
        self.clock = clock
        self.start = clock.monotonic()
        self.finished = threading.Event()
        if report is not None:
            threading.Thread(target=self._watch, name="read-progress", daemon=True).start()

    def tick(self) -> None:
        with self.lock:
            self.done += 1

    def _watch(self) -> None:
        assert self.report is not None
        while not self.clock.wait(self.finished, READ_PROGRESS_AFTER):
            self.report(
                f"reading: {self.done} of {self.total} organization(s) read, "
                f"{self.clock.monotonic() - self.start:.0f} s so far"
            )

    def close(self) -> None:
        self.finished.set()


def read_organizations(
    reader: ApiReader,
    matched: dict[str, ApiProfile],
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
    skip_unreadable: bool = False,
) -> LiveState:
    """Members of every organization concurrently, then the org key lists where the server has
    them. With `skip_unreadable` (export and usage of every organization the token sees), an
    organization whose member list answers 403 is left out with a warning, not an error."""
    if api_version not in API_VERSION_CHOICES:
        raise UsageError(f"api version must be one of {', '.join(API_VERSION_CHOICES)}")
    if matched:
        reader.set_inflight_limit(
            min(p.max_num_inflight_requests_permitted for p in matched.values())
        )
    warnings: list[str] = []  # a caller who is not OWNER shows in the plan, as blocked changes
    workers = max(1, min(len(matched), READ_WORKERS))
    watch = _ReadProgress(progress, len(matched), reader.clock)

    def members_of(profile: ApiProfile) -> list[OrganizationMember] | None:
        try:
            found = reader.get_members(profile.organization_id)
        except ForbiddenError:
            if not skip_unreadable:
                raise
            return None  # left out below, with a word
        finally:
            watch.tick()
        return found

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read") as pool:
        try:
            read = dict(zip(matched, pool.map(members_of, matched.values()), strict=True))
        finally:
            watch.close()
        members = {name: found for name, found in read.items() if found is not None}
        for name in read.keys() - members.keys():
            warnings.append(
                f"{name}: left out, its member list is not readable (403); you are "
                f"{matched[name].role} there"
            )
        matched = {name: profile for name, profile in matched.items() if name in members}
        saw_full_name = any(m.carries_full_name for listed in members.values() for m in listed)
        detected, probes, evidence = _detect_version(reader, matched, saw_full_name, api_version)
        log.info("API version %s: %s", detected, evidence)
        if detected == "2026-06":
            rest = [name for name in matched if name not in probes]
            forced = api_version == "2026-06"
            probes.update(
                zip(
                    rest,
                    pool.map(lambda n: _org_keys(reader, matched[n], forced), rest),
                    strict=True,
                )
            )
    for name, probe in probes.items():
        if probe.hidden:
            warnings.append(
                f"the key list of {name!r} answered 404 although --api-version 2026-06 was "
                "given: only the keys on your profile are known (if the server speaks 2025-10, "
                "drop --api-version)"
            )
        elif not probe.readable:
            warnings.append(
                f"the key list of {name!r} cannot be read (403): only the keys on your profile are "
                f"known"
            )
    organizations = {
        name: _live_organization(name, profile, members[name], probes.get(name))
        for name, profile in matched.items()
    }
    return LiveState(
        organizations=organizations,
        api_version=detected,
        warnings=tuple(warnings),
        api_version_evidence=evidence,
    )


def read_live_state(
    reader: ApiReader,
    desired: DesiredState,
    only: Iterable[str] = (),
    api_version: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> LiveState:
    profiles = reader.get_profiles()
    return read_organizations(
        reader, match_organizations(desired, profiles, only), api_version, progress
    )


def select_profiles(profiles: list[ApiProfile], only: Iterable[str] = ()) -> dict[str, ApiProfile]:
    """Enterprise profiles by profile name, optionally only those named (by name or id): for
    export."""
    wanted = [o.casefold() for o in only]
    chosen: dict[str, ApiProfile] = {}
    for profile in _unique_enterprise(profiles):
        if (
            wanted
            and profile.name.casefold() not in wanted
            and profile.organization_id.casefold() not in wanted
        ):
            continue
        base = "".join(c for c in profile.name if c.isprintable()).strip() or "organization"
        name, number = base, 1
        while name in chosen:  # two organizations of one name: the file tells them apart by id
            number += 1
            name = f"{base}-{number}"
        chosen[name] = profile
    if wanted and not chosen:
        raise OrganizationNotFoundError(
            f"no organization named {', '.join(only)}; this token can see: {_describe(profiles)}"
        )
    return chosen
