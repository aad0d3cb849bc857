"""The planner: desired x live x policy -> Plan. A pure function: no I/O, no clock but the Plan's
stamp.

Set arithmetic in the manner of peribolos: index the live members by every identifier, walk the
desired members once, and what is left over on the live side is a candidate for removal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from itertools import compress, filterfalse
from operator import attrgetter, not_
from typing import TypedDict, cast

from ..config.models import DesiredState, EffectivePolicy, Member, Organization
from ..errors import ConfigError, Problem
from ..model.changes import (
    APPLY_ORDER,
    Blocked,
    Change,
    ChangeBlocked,
    KeyBlocked,
    KeyCreate,
    KeyDeactivate,
    KeyRotate,
    MemberAdd,
    MemberBlocked,
    MemberPromote,
    MemberRef,
    MemberRemove,
    UnmanagedKey,
)
from ..model.expiry import ExpiryNote, expired_reason, is_expired
from ..model.identity import IdentityIndex, identity, matches_glob, normalise_all
from ..model.live import (
    KNOWN_KEY_STATUSES,
    KNOWN_ROLES,
    LiveKey,
    LiveMember,
    LiveOrganization,
    LiveState,
    Role,
)
from ..model.plan import Plan, hash_changes
from ..model.rotation import KeyFacts, RotationNote
from ..model.safety import OrganizationSummary, check_safety
from ..model.sources import SourceSnapshot
from ..model.usage import PlanUsage, UsageFacts
from . import usage_rules
from .expiry import expiry_notes
from .rotation import plan_rotations, sink_names
from .usage_rules import merge_usage


class _Where(TypedDict):
    organization: str
    organization_id: str


_RANK = {action: rank for rank, action in enumerate(APPLY_ORDER)}
# a plan's live_fingerprint when none was made: no fingerprint of any live state is empty, so a
# plan carrying it is stale to every freshness check
NOT_FINGERPRINTED = ""


class _LiveIndex:
    """Live members by each of their identities, and each entry's live record, found once."""

    def __init__(self, live: LiveOrganization) -> None:
        self._index = IdentityIndex.of(list(live.members), live.compared)
        self._resolved: tuple[list[Member], list[LiveMember | None]] | None = None
        self._found: tuple[list[Member], list[LiveMember], set[int]] | None = None

    def find(self, member: Member) -> LiveMember | None:
        return self._index.get_normalised(member.identity)

    def resolve(self, entries: list[Member]) -> list[LiveMember | None]:
        """The live record of each entry, found once per list however many passes ask."""
        if self._resolved is None or self._resolved[0] is not entries:
            self._resolved = (entries, self._find_all(entries))
        return self._resolved[1]

    def found(self, entries: list[Member]) -> tuple[list[LiveMember], set[int]]:
        """The live records the entries name (one per naming entry, in order) and the set of
        their ids, made once per list: the same-person check and the planner both read them."""
        if self._found is None or self._found[0] is not entries:
            records = list(filter(None, self.resolve(entries)))  # a record is true; None is not
            self._found = (entries, records, set(map(id, records)))
        return self._found[1], self._found[2]

    def _find_all(self, entries: list[Member]) -> list[LiveMember | None]:
        emails = [entry.email for entry in entries]
        if None in emails:  # some entries name a handle or a user id: each by its own identity
            return [self.find(entry) for entry in entries]
        keys = normalise_all("email", cast(list[str], emails))
        return list(map(self._index.lookup("email"), keys))


def _ref_of_live(live: LiveMember) -> MemberRef:
    return MemberRef(user_id=live.user_id, email=live.email or None, handle=live.handle or None)


def _ref_of_entry(member: Member) -> MemberRef:
    return MemberRef(user_id=member.user_id, email=member.email, handle=member.handle)


def _change_order(change: Change) -> tuple[int, str, str]:
    if isinstance(change, KeyCreate | KeyRotate):
        return (_RANK[change.action], "", change.key_label)
    if isinstance(change, KeyDeactivate):
        return (_RANK[change.action], change.key_label or "", change.key_id)
    return (_RANK[change.action], identity("email", change.member.label)[1], "")


def _blocked_order(item: Blocked) -> tuple[str, str, str]:
    if isinstance(item, ChangeBlocked):
        return (item.kind, "", "")  # kept in apply order
    if isinstance(item, MemberBlocked):
        return (item.kind, identity("email", item.member.label)[1], "")
    return (item.kind, "", item.key_id)


_FIELD_NAMES = {"email": "email", "handle": "handle", "user_id": "user id"}


def _unknown_role(live: LiveMember, where: _Where) -> MemberBlocked:
    return MemberBlocked(
        kind="member.unknown_role",
        member=_ref_of_live(live),
        reason=f"the server gives role {live.role!r}, which this version of ideogram-org does not "
        f"know (it might outrank OWNER): the member is never changed",
        **where,
    )


def _unprovable_removal(live: LiveMember, unmatched_by_field: dict[str, list[Member]]) -> str:
    """Why removing `live` would be a guess, or "" when the file provably does not list it.

    An entry of the file that matched nobody might be this member, if the server's record lacks
    the identifier that entry uses: absence of proof is not proof of absence.
    """
    if not live.identities:
        return "the server's record has no user id, email or handle: it cannot be named in a call"
    present = {
        "email": bool(live.email),
        "handle": bool(live.handle),
        "user_id": bool(live.user_id),
    }
    fields = [
        field for field, entries in unmatched_by_field.items() if entries and not present[field]
    ]
    if not fields:
        return ""
    entries = [entry for field in fields for entry in unmatched_by_field[field]]
    names = ", ".join(entry.label for entry in entries[:3]) + (
        f" or {len(entries) - 3} more" if len(entries) > 3 else ""
    )
    missing = " or ".join(_FIELD_NAMES[field] for field in fields)
    return (
        f"not matched to the file, but the server's record has no {missing}: cannot tell whether "
        "it is "
        f"{names} (listed in the file); it is never removed on a guess"
    )


class _OrganizationPlanner:
    """Plans one organization; each method handles one part of the diff."""

    def __init__(
        self,
        name: str,
        desired: Organization,
        policy: EffectivePolicy,
        live: LiveOrganization,
        index: _LiveIndex | None = None,
        lost_keys: Mapping[str, str] | None = None,
        origins: Sequence[str] | None = None,
        today: date | None = None,
    ) -> None:
        self.name, self.desired, self.policy, self.live = name, desired, policy, live
        self.today = today  # judges expiry; None: nothing expires (no clock was read)
        self.origins = origins or ()  # per member entry: the source it came from, "" the file
        self.lost_keys = lost_keys or {}  # key id -> why nobody holds its secret
        self.index = index or _LiveIndex(live)
        self.org_id = live.organization_id
        self.where = _Where(organization=name, organization_id=live.organization_id)
        self.changes: list[Change] = []
        self.blocked: list[Blocked] = []
        self.unmanaged: list[UnmanagedKey] = []
        # the live records the file lists: by identity (ids of the index's own records), and by
        # value for records without a user id, the only ones the server may repeat exactly: such
        # a twin is listed with the record the file matched, never removed as unlisted
        self.matched: set[int] = set()
        self.matched_without_id: set[LiveMember] = set()
        self.unmatched: list[Member] = []  # entries of the file that match no live member
        self.removals = 0
        self.owner_removals = 0

    def listed_members(self) -> None:
        ignored, members = self.policy.ignore_members, self.desired.members
        resolved = self.index.resolve(members)
        records, self.matched = self.index.found(members)  # the index's set: only read from now
        self.matched_without_id.update(filterfalse(attrgetter("user_id"), records))
        for position, (member, found) in enumerate(zip(members, resolved, strict=True)):
            if (
                found is not None
                and found.role == member.role
                and member.expires is None
                and not ignored
            ):
                continue  # present in the role listed: nothing to do (nearly every entry)
            self._listed(position, member, found)

    def _is_listed(self, live: LiveMember) -> bool:
        return id(live) in self.matched or (not live.user_id and live in self.matched_without_id)

    def _unlisted(self) -> list[LiveMember]:
        """The live records the file does not list, in the server's order."""
        members = self.live.members
        if self.matched_without_id:
            return [live for live in members if not self._is_listed(live)]
        # nearly always: listed is matched by identity, decided for all at once, at C speed
        return list(compress(members, map(not_, map(self.matched.__contains__, map(id, members)))))

    def _listed(self, position: int, member: Member, found: LiveMember | None) -> None:
        """What one entry of the file needs, unless it is in place."""
        common, ignored = self.where, self.policy.ignore_members
        origin = self.origins[position] if position < len(self.origins) else ""
        if ignored and matches_glob(
            ignored,
            member.email,
            member.handle,
            found.email if found else None,
            found.handle if found else None,
        ):
            return
        if self.today is not None and is_expired(member.expires, self.today):
            self._expired(member, found, origin)
        elif found is not None and found.role not in KNOWN_ROLES:
            self.blocked.append(_unknown_role(found, self.where))
        elif found is None:
            self.unmatched.append(member)
            ref = _ref_of_entry(member)
            listed = f"from {origin}" if origin else "listed in the file"
            self.changes.append(
                MemberAdd(
                    member=ref,
                    reason=f"{listed}, not in the organization",
                    origin=origin,
                    **common,
                )
            )
            if member.role == "OWNER":
                self.changes.append(
                    MemberPromote(
                        member=ref,
                        after_add=True,
                        reason=f"OWNER {listed}; new members join as MEMBER"
                        if origin
                        else "listed as OWNER; new members join as MEMBER",
                        origin=origin,
                        **common,
                    )
                )
        elif member.role == "OWNER" and found.role == "MEMBER":
            self.changes.append(
                MemberPromote(
                    member=_ref_of_live(found),
                    reason=f"OWNER from {origin}, is MEMBER"
                    if origin
                    else "listed as OWNER, is MEMBER",
                    origin=origin,
                    **common,
                )
            )
        elif member.role == "MEMBER" and found.role == "OWNER":
            self.blocked.append(
                MemberBlocked(
                    kind="member.demote",
                    member=_ref_of_live(found),
                    reason="listed as MEMBER, is OWNER: the API "
                    "has no call to demote an owner; demote by hand in Ideogram, or list them "
                    "as OWNER",
                    **common,
                )
            )

    def _expired(self, member: Member, found: LiveMember | None, origin: str) -> None:
        """An entry past its `expires`: never added, and removed if present (through the same
        limits as every removal: max_removals, min_owners, protected members)."""
        if found is None or found.role not in KNOWN_ROLES:
            if found is not None:
                self.blocked.append(_unknown_role(found, self.where))
            return
        ref = _ref_of_live(found)
        reason = expired_reason(member.expires or date.min) + (f", from {origin}" if origin else "")
        if any(ref.matches(name) for name in self.policy.protected_members):
            self.blocked.append(
                MemberBlocked(
                    kind="member.remove_protected",
                    member=ref,
                    reason=f"{reason}, but protected by policy: it is never removed",
                    **self.where,
                )
            )
            return
        role: Role = "OWNER" if found.role == "OWNER" else "MEMBER"
        self.changes.append(
            MemberRemove(member=ref, current_role=role, reason=reason, **self.where)
        )
        self.removals += 1
        self.owner_removals += role == "OWNER"

    @property
    def not_listed(self) -> str:
        """Why an unlisted member goes: not in the file, nor in any of its sources."""
        if not self.desired.sources:
            return "not in the file"
        return (
            "not in the file or its sources ("
            + ", ".join(source.describe() for source in self.desired.sources)
            + ")"
        )

    def unlisted_members(self) -> None:
        if not self.policy.prune_members:
            return
        common = self.where
        unmatched_by_field: dict[str, list[Member]] = {}
        for entry in self.unmatched:
            unmatched_by_field.setdefault(entry.identity[0], []).append(entry)
        ignored = self.policy.ignore_members
        for live in self._unlisted():
            if ignored and matches_glob(ignored, live.email, live.handle):
                continue
            ref = _ref_of_live(live)
            if live.role not in KNOWN_ROLES:
                self.blocked.append(_unknown_role(live, self.where))
                continue
            unproven = _unprovable_removal(live, unmatched_by_field)
            if unproven:
                self.blocked.append(
                    MemberBlocked(
                        kind="member.remove_unproven", member=ref, reason=unproven, **common
                    )
                )
                continue
            if any(ref.matches(name) for name in self.policy.protected_members):
                self.blocked.append(
                    MemberBlocked(
                        kind="member.remove_protected",
                        member=ref,
                        reason="not in the file, but protected by policy: it is never removed",
                        **common,
                    )
                )
                continue
            role: Role = "OWNER" if live.role == "OWNER" else "MEMBER"
            self.changes.append(
                MemberRemove(member=ref, current_role=role, reason=self.not_listed, **common)
            )
            self.removals += 1
            self.owner_removals += role == "OWNER"

    def keys(self) -> None:
        common = self.where
        live_keys: dict[str, LiveKey] = {k.api_key_id: k for k in self.live.keys}
        listed: set[str] = set()
        for label, spec in self.desired.api_keys.items():
            expired = self.today is not None and is_expired(spec.expires, self.today)
            if expired and spec.id is None:
                continue  # never created: its time is over
            if spec.id is None:
                self.changes.append(
                    KeyCreate(
                        key_label=label,
                        reason="listed without an id: a new key",
                        deliver_to=sink_names(spec),
                        **common,
                    )
                )
                continue
            listed.add(spec.id)
            key = live_keys.get(spec.id)
            if key is None:
                self.blocked.append(
                    KeyBlocked(
                        kind="key.missing",
                        key_id=spec.id,
                        key_label=label,
                        reason="no key with this id exists in "
                        "the organization; fix the id or remove the entry",
                        **common,
                    )
                )
            elif key.status not in KNOWN_KEY_STATUSES:
                self.blocked.append(
                    KeyBlocked(
                        kind="key.unknown_status",
                        key_id=spec.id,
                        key_label=label,
                        reason=f"the server gives status {key.status or 'null'!r}, which this "
                        "version of ideogram-org "
                        f"does not know: the key is never changed",
                        **common,
                    )
                )
            elif (spec.status == "DISABLED" or expired) and key.status == "ACTIVE":
                reason = (
                    expired_reason(spec.expires or date.min) if expired else "listed as DISABLED"
                )
                self.changes.append(
                    KeyDeactivate(key_id=spec.id, key_label=label, reason=reason, **common)
                )
            elif expired:
                continue  # already DISABLED: nothing to do, nothing to reactivate
            elif spec.status == "ACTIVE" and key.status == "DISABLED":
                self.blocked.append(
                    KeyBlocked(
                        kind="key.reactivate",
                        key_id=spec.id,
                        key_label=label,
                        reason="listed as ACTIVE, is "
                        "DISABLED: a deactivated key cannot be reactivated; list it as DISABLED, "
                        "or add a new key "
                        "without an id",
                        **common,
                    )
                )
        self._unlisted_keys(listed)

    def _unlisted_keys(self, listed: set[str]) -> None:
        common = self.where
        for key in self.live.keys:
            if key.api_key_id in listed or key.status == "DISABLED":
                continue
            if key.status != "ACTIVE":  # unknown or null: reported, never deactivated
                self.unmanaged.append(
                    UnmanagedKey(
                        key_id=key.api_key_id,
                        redacted=key.redacted,
                        status=key.status,
                        creation_time=key.creation_time,
                        **common,
                    )
                )
            elif key.api_key_id in self.lost_keys:  # a crash lost its secret: planned, counted
                self.changes.append(
                    KeyDeactivate(
                        key_id=key.api_key_id, reason=self.lost_keys[key.api_key_id], **common
                    )
                )
            elif self.policy.prune_api_keys:
                self.changes.append(
                    KeyDeactivate(
                        key_id=key.api_key_id,
                        reason="ACTIVE and not in the file (prune_api_keys)",
                        **common,
                    )
                )
            else:
                self.unmanaged.append(
                    UnmanagedKey(
                        key_id=key.api_key_id,
                        redacted=key.redacted,
                        creation_time=key.creation_time,
                        **common,
                    )
                )

    def summary(self) -> OrganizationSummary:
        owners_before = sum(1 for m in self.live.members if m.role == "OWNER")
        promotions = sum(1 for c in self.changes if isinstance(c, MemberPromote))
        active_keys = sum(1 for k in self.live.keys if k.status == "ACTIVE")
        return OrganizationSummary(
            name=self.name,
            organization_id=self.org_id,
            profile_name=self.live.profile_name,
            caller_role=self.live.caller_role,
            members_before=len(self.live.members),
            owners_before=owners_before,
            owners_after=owners_before + promotions - self.owner_removals,
            min_owners=self.policy.min_owners,
            removals=self.removals,
            removal_limit=self.policy.removal_limit(len(self.live.members)),
            key_deactivations=sum(1 for c in self.changes if isinstance(c, KeyDeactivate)),
            key_deactivation_limit=self.policy.key_deactivation_limit(active_keys),
            protected_members=list(self.policy.protected_members),
            manages_keys="api_keys" in self.desired.model_fields_set,
        )

    def caller_cannot_write(self) -> None:
        """A MEMBER (or a role this version does not know) can change nothing: every change is
        blocked."""
        reason = (
            f"you are {self.live.caller_role} of {self.name}; only an OWNER can change it, so "
            "apply sends "
            f"nothing for this organization"
        )
        self.blocked = [
            ChangeBlocked(change=change, reason=reason, **self.where) for change in self.changes
        ] + self.blocked
        self.changes = []
        self.removals = self.owner_removals = 0


OrganizationPlan = tuple[
    OrganizationSummary,
    list[Change],
    list[Blocked],
    list[UnmanagedKey],
    PlanUsage | None,
    list[RotationNote],
]


def _usage_findings(planner: _OrganizationPlanner, facts: UsageFacts) -> PlanUsage:
    name, policy, desired, live = planner.name, planner.policy, planner.desired, planner.live
    planner.changes, planner.unmanaged, idle = usage_rules.idle_keys(
        name, policy, desired, live, facts, planner.changes, planner.unmanaged
    )
    planner.changes, dormant, skipped = usage_rules.dormant_members(
        name, policy, desired, live, facts, planner.changes
    )
    keys, members = usage_rules.notes(name, live, facts, planner.changes, planner.unmanaged)
    return PlanUsage(
        since=facts.since.isoformat(),
        today=facts.today.isoformat(),
        not_summed=[
            f"{name}: {rows} usage row(s) in {currency} are not in the 30-day spend, which is in "
            f"{facts.currency}: amounts of two currencies are never added"
            for currency, rows in facts.not_summed
        ],
        keys=keys,
        members=members,
        idle_keys=idle,
        dormant_members=dormant,
        not_evaluated=skipped,
    )


def plan_organization(
    name: str,
    desired: Organization,
    policy: EffectivePolicy,
    live: LiveOrganization,
    index: _LiveIndex | None = None,
    facts: UsageFacts | None = None,
    lost_keys: Mapping[str, str] | None = None,
    key_facts: KeyFacts | None = None,
    origins: Sequence[str] | None = None,
    today: date | None = None,
) -> OrganizationPlan:
    """One organization's summary, changes (in apply order), blocked items, unmanaged keys,
    when usage was read, what it showed, and where its rotating keys stand."""
    planner = _OrganizationPlanner(name, desired, policy, live, index, lost_keys, origins, today)
    planner.listed_members()
    planner.unlisted_members()
    planner.keys()
    notes: list[RotationNote] = []
    if key_facts is not None:
        planner.changes, planner.unmanaged, notes = plan_rotations(
            name, desired, live, key_facts, planner.changes, planner.unmanaged
        )
    found = _usage_findings(planner, facts) if facts is not None else None
    planner.changes.sort(key=_change_order)
    if live.caller_role != "OWNER":
        planner.caller_cannot_write()
    changes = planner.changes
    blocked = sorted(planner.blocked, key=_blocked_order)
    unmanaged = sorted(planner.unmanaged, key=lambda k: k.key_id)
    return planner.summary(), changes, blocked, unmanaged, found, notes


Locate = Callable[
    [str, int], tuple[int, int]
]  # (organization, member index) -> (line, column) in the file


def same_person_problems(
    desired: DesiredState,
    live: LiveState,
    desired_file: str,
    locate: Locate,
    indexes: dict[str, _LiveIndex] | None = None,
) -> list[Problem]:
    """Two entries of one organization that name the same live person, say by email and by handle.

    The file cannot show this (it needs the live records), and a plan made from it would act on
    whichever entry came last: one person gets one entry.
    """
    problems = []
    for name, organization in desired.organizations.items():
        if name not in live.organizations:
            continue
        index = (indexes or {}).get(name) or _LiveIndex(live.organizations[name])
        records, record_ids = index.found(organization.members)
        if len(record_ids) == len(records):  # no live record is named twice (nearly always)
            continue
        resolved = index.resolve(organization.members)
        first_entry: dict[int, int] = {}  # id of a live record -> the first entry naming it
        for position, found in enumerate(resolved):
            if found is None:
                continue
            member = organization.members[position]
            if id(found) not in first_entry:
                first_entry[id(found)] = position
                continue
            first = first_entry[id(found)]
            line, col = locate(name, position)
            first_line, first_col = locate(name, first)
            problems.append(
                Problem(
                    desired_file,
                    line,
                    col,
                    (
                        f"{member.label} and {organization.members[first].label} (at "
                        f"{desired_file}:{first_line}:"
                        f"{first_col}) are the same person in organization {name!r} (user id "
                        f"{found.user_id or 'none'}): list "
                        f"each person once"
                    ),
                )
            )
    return problems


def listed_but_ignored(
    desired: DesiredState, live: LiveState, desired_file: str, locate: Locate
) -> list[Problem]:
    """Entries that ignore_members matches only through the live record (say, listed by user id):
    the
    entry is then never acted on. The loader warns about entries the patterns match by
    themselves."""
    warnings = []
    for name, organization in desired.organizations.items():
        patterns = desired.effective_policy(name).ignore_members
        if name not in live.organizations or not patterns:
            continue
        index = _LiveIndex(live.organizations[name])
        for position, member in enumerate(organization.members):
            found = index.find(member)
            if found is None or matches_glob(patterns, member.email, member.handle):
                continue
            if matches_glob(patterns, found.email, found.handle):
                line, col = locate(name, position)
                warnings.append(
                    Problem(
                        desired_file,
                        line,
                        col,
                        (
                            f"warning: {member.label} is listed, but ignore_members matches its "
                            "live record "
                            f"({found.email or found.handle}): it is never added, changed or "
                            "removed"
                        ),
                    )
                )
    return warnings


def compute_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    desired_file: str,
    desired_hash: str,
    locate: Locate = lambda _organization, _index: (1, 1),
    usage: dict[str, UsageFacts] | None = None,
    lost_keys: Mapping[str, Mapping[str, str]] | None = None,
    keys: Mapping[str, KeyFacts] | None = None,
    origins: Mapping[str, Sequence[str]] | None = None,
    sources: list[SourceSnapshot] | None = None,
    today: date | None = None,
    fingerprint: bool = True,
) -> Plan:
    """Plan every organization the live state holds, in the order of the desired file.

    `lost_keys` (organization -> key id -> reason) are keys a crashed run's create made whose
    secret nobody holds, as the verified audit trail shows: their deactivation is planned like
    any other, so it is shown, counted against max_key_deactivations and approved. `keys`
    (organization -> facts) is the clock and rotation state the key lifecycle is judged by;
    without it no rotation is planned. `origins` (organization -> for each member entry, the
    source it came from, "" for the file's own) and `sources` (what they returned) are the
    directory's part: origins go into the reasons, the snapshots into the plan and its hash.
    `today` (the server's date) judges `expires`: past it, an entry is removed and a key
    deactivated, with the reason `expired DATE`; within warn_days of it, the plan warns.
    Without `fingerprint` the live state is not fingerprinted (NOT_FINGERPRINTED): for apply's
    re-reads, whose plans are only compared with what was sent, never saved or judged fresh.

    Raises ConfigError when two entries of the file turn out to be one live person.
    """
    indexes = {name: _LiveIndex(org) for name, org in live.organizations.items()}
    conflicts = same_person_problems(desired, live, desired_file, locate, indexes)
    if conflicts:
        raise ConfigError(conflicts)
    summaries: list[OrganizationSummary] = []
    changes: list[Change] = []
    blocked: list[Blocked] = []
    unmanaged: list[UnmanagedKey] = []
    found: list[PlanUsage] = []
    rotations: list[RotationNote] = []
    expiring: list[ExpiryNote] = []
    for name, organization in desired.organizations.items():
        if name not in live.organizations:
            continue  # not selected with --org
        policy = desired.effective_policy(name)
        if today is not None:
            org_origins = (origins or {}).get(name) or ()
            expiring += expiry_notes(name, organization, org_origins, today, policy.warn_days)
        summary, org_changes, org_blocked, org_unmanaged, org_usage, notes = plan_organization(
            name,
            organization,
            policy,
            live.organizations[name],
            indexes[name],
            (usage or {}).get(name),
            (lost_keys or {}).get(name),
            (keys or {}).get(name),
            (origins or {}).get(name),
            today,
        )
        rotations += notes
        summaries.append(summary)
        changes += org_changes
        blocked += org_blocked
        unmanaged += org_unmanaged
        found += [org_usage] if org_usage else []
    return Plan(
        desired_file=desired_file,
        desired_hash=desired_hash,
        live_fingerprint=live.fingerprint() if fingerprint else NOT_FINGERPRINTED,
        api_version=live.api_version,
        api_version_evidence=live.api_version_evidence,
        plan_hash=hash_changes(changes, sources),
        organizations=summaries,
        changes=changes,
        blocked=blocked,
        unmanaged_keys=unmanaged,
        violations=check_safety(summaries),
        usage=merge_usage(found),
        rotations=rotations,
        sources=list(sources or []),
        expiring=expiring,
    )
