"""The sandbox's world: a directory of Ideogram users, organizations, their members and keys.

Persisted as one JSON file so a served sandbox survives restarts and tests can set up any situation.
"""

from __future__ import annotations

import base64
import json
import os
import random
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..api.endpoints import API_VERSIONS
from ..model.identity import IdentityIndex
from .usage import (
    MEMBER_HISTORY_LIMIT,
    Commit,
    UsagePattern,
    key_pattern,
    member_pattern,
    part_used_commit,
)

DEFAULT_TOKEN = "sandbox-token"


def b64id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def random_id(rng: random.Random) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("=")


@dataclass
class User:
    user_id: str
    display_handle: str
    email_address: str
    full_name: str | None = None

    @property
    def avatar_url(self) -> str:
        return f"https://ideogram.ai/avatars/{self.user_id}.png"


@dataclass
class ApiKey:
    api_key_id: str
    redacted_api_key: str
    creation_time: str
    status: str | None = "ACTIVE"  # tests may set a status no spec has, or null


@dataclass
class Organization:
    organization_id: str
    name: str
    members: dict[str, str] = field(default_factory=dict)  # user_id -> role, in join order
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    payment_required: bool = False  # creating a key answers 402 while this is set
    profile_type: str = "ENTERPRISE"  # tests may set a type no spec has
    usage: list[UsagePattern] = field(
        default_factory=list
    )  # the usage history, as patterns (sandbox/usage.py)
    commit: Commit | None = None
    repeated_members: list[str] = field(
        default_factory=list
    )  # user ids the member list sends twice
    others_keys: list[str] = field(
        default_factory=list
    )  # key ids of other owners: not on the caller's profile
    # cents an invoice adds to its month ("YYYY-MM") beyond the usage, as a line without a key
    # (a fee, a tax, a billing fault): what `usage --invoices` must show
    invoice_adjustments: dict[str, int] = field(default_factory=dict)

    def owners(self) -> int:
        return list(self.members.values()).count(
            "OWNER"
        )  # C speed: this runs per call at 100,000 members


@dataclass
class SandboxState:
    api_version: str = "2026-06"
    token: str = DEFAULT_TOKEN
    caller_user_id: str = ""
    inflight_limit: int = 10
    users: dict[str, User] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    seed: int = 0
    omit_full_name: bool = False  # 2026-06: leave the optional full_name out of member records
    usage_anchor: str = ""  # ISO date that usage day 0 stands for: the day the history was made
    members_need_owner: bool = False  # answer 403 to a MEMBER's read of the member list
    clock_offset: float = 0.0  # seconds the sandbox's clock is ahead of the machine's (or behind)

    def __post_init__(self) -> None:
        if self.api_version not in API_VERSIONS:
            raise ValueError(f"api_version must be one of {', '.join(API_VERSIONS)}")
        self.reindex()

    def now(self) -> datetime:
        """The sandbox's own clock: the machine's, moved by clock_offset."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.clock_offset)

    def reindex(self) -> None:
        self._directory: IdentityIndex[User] = IdentityIndex()
        for user in self.users.values():
            self._index(user)

    def _index(self, user: User) -> None:
        self._directory.add(user, user.email_address, user.display_handle, user.user_id)

    def add_user(self, user: User) -> User:
        self.users[user.user_id] = user
        self._index(user)
        return user

    def find_user(self, user_id: str | None, email: str | None, handle: str | None) -> User | None:
        """The one user all given identifiers name, or None when they name nobody or disagree."""
        found: list[User | None] = []
        if user_id is not None:
            found.append(self.users.get(user_id))
        if email is not None:
            found.append(self._directory.get("email", email))
        if handle is not None:
            found.append(self._directory.get("handle", handle))
        if not found or any(u is None for u in found) or len({u.user_id for u in found if u}) != 1:
            return None
        return found[0]

    # --- persistence ---------------------------------------------------------------------------

    def to_dict(self, include_users: bool = True) -> dict[str, Any]:
        """The state as saved; without users (a served sandbox never changes them) it is quick
        enough
        to take while requests wait."""
        return {
            "api_version": self.api_version,
            "token": self.token,
            "caller_user_id": self.caller_user_id,
            "inflight_limit": self.inflight_limit,
            "seed": self.seed,
            "omit_full_name": self.omit_full_name,
            "usage_anchor": self.usage_anchor,
            "members_need_owner": self.members_need_owner,
            "users": [asdict(u) for u in self.users.values()] if include_users else [],
            "organizations": [
                {
                    "organization_id": o.organization_id,
                    "name": o.name,
                    "payment_required": o.payment_required,
                    "profile_type": o.profile_type,
                    "repeated_members": o.repeated_members,
                    "others_keys": o.others_keys,
                    "invoice_adjustments": o.invoice_adjustments,
                    "usage": [asdict(p) for p in o.usage],
                    "commit": asdict(o.commit) if o.commit else None,
                    "members": [{"user_id": uid, "role": role} for uid, role in o.members.items()],
                    "api_keys": [asdict(k) for k in o.api_keys.values()],
                }
                for o in self.organizations.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxState:
        users = {u["user_id"]: User(**u) for u in data.get("users", [])}
        orgs = {}
        for o in data.get("organizations", []):
            orgs[o["organization_id"]] = Organization(
                organization_id=o["organization_id"],
                name=o["name"],
                payment_required=o.get("payment_required", False),
                profile_type=o.get("profile_type", "ENTERPRISE"),
                repeated_members=o.get("repeated_members", []),
                others_keys=o.get("others_keys", []),
                invoice_adjustments=o.get("invoice_adjustments", {}),
                usage=[UsagePattern(**p) for p in o.get("usage", [])],
                commit=Commit(**o["commit"]) if o.get("commit") else None,
                members={m["user_id"]: m["role"] for m in o.get("members", [])},
                api_keys={k["api_key_id"]: ApiKey(**k) for k in o.get("api_keys", [])},
            )
        return cls(
            api_version=data.get("api_version", "2026-06"),
            token=data.get("token", DEFAULT_TOKEN),
            caller_user_id=data.get("caller_user_id", ""),
            inflight_limit=data.get("inflight_limit", 10),
            users=users,
            organizations=orgs,
            seed=data.get("seed", 0),
            omit_full_name=data.get("omit_full_name", False),
            usage_anchor=data.get("usage_anchor", ""),
            members_need_owner=data.get("members_need_owner", False),
        )

    def save(self, path: str | Path) -> None:
        write_state(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> SandboxState:
        return cls.from_dict(json.loads(Path(path).read_text()))


def write_state(data: dict[str, Any], path: str | Path) -> None:
    """Write atomically, so a crash mid-write never leaves half a state file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, separators=(",", ":"))
    os.replace(tmp, path)


# --- generated organizations ---------------------------------------------------------------------

FIRST = [
    "ada",
    "ben",
    "chen",
    "dana",
    "eli",
    "fatima",
    "gus",
    "hana",
    "ivan",
    "jun",
    "kira",
    "liam",
    "mei",
    "nora",
    "omar",
    "pia",
    "quinn",
    "rosa",
    "sven",
    "tara",
    "uma",
    "vik",
    "wen",
    "xena",
    "yusuf",
    "zoe",
]
LAST = [
    "adams",
    "berg",
    "costa",
    "diaz",
    "eng",
    "fischer",
    "garcia",
    "huang",
    "ito",
    "jensen",
    "kim",
    "lopez",
    "moreau",
    "nakamura",
    "okafor",
    "patel",
    "quist",
    "rossi",
    "silva",
    "tanaka",
    "ueda",
    "varga",
    "weber",
    "xu",
    "yilmaz",
    "zhou",
]
EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)


def _person(index: int, rng: random.Random, domain: str) -> User:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    handle = f"{first}_{last}{index}"
    return User(
        user_id=b64id(f"user_{handle}"),
        display_handle=handle,
        email_address=f"{first}.{last}{index}@{domain}",
        full_name=f"{first.title()} {last.title()}",
    )


def make_key(rng: random.Random, age_days: float, status: str = "ACTIVE") -> ApiKey:
    secret_head = base64.b32encode(rng.randbytes(5)).decode()[:4]
    created = (EPOCH + timedelta(days=age_days)).isoformat()
    return ApiKey(
        api_key_id=random_id(rng),
        redacted_api_key=secret_head + "•" * 13,
        creation_time=created,
        status=status,
    )


def generate_state(
    members: int = 25,
    keys: int = 5,
    seed: int = 0,
    api_version: str = "2026-06",
    org_name: str = "Acme",
    outsiders: int | None = None,
    owners: int = 2,
    token: str = DEFAULT_TOKEN,
    inflight_limit: int = 10,
    usage_anchor: date | None = None,
) -> SandboxState:
    """A realistic organization, the same for the same arguments (its usage history ends on
    `usage_anchor`, by default today). Scales to 1,000,000 members."""
    if members < 1:
        raise ValueError("an organization needs at least one member: its owner")
    rng = random.Random(seed)
    domain = f"{org_name.lower().replace(' ', '')}.example"
    state = SandboxState(
        api_version=api_version, token=token, inflight_limit=inflight_limit, seed=seed
    )
    org = Organization(organization_id=b64id(f"org_{org_name.lower()}"), name=org_name)
    outsiders = max(10, members // 10) if outsiders is None else outsiders
    for index in range(members + outsiders):
        user = state.add_user(_person(index, rng, domain))
        if index < members:
            org.members[user.user_id] = "OWNER" if index < owners else "MEMBER"
    for index in range(keys):
        status = "DISABLED" if rng.random() < 0.15 else "ACTIVE"
        key = make_key(rng, age_days=index * 0.5, status=status)
        org.api_keys[key.api_key_id] = key
    state.organizations[org.organization_id] = org
    state.caller_user_id = next(iter(org.members))
    add_usage_history(state, org, usage_anchor or datetime.now(timezone.utc).date())
    return state


def add_usage_history(state: SandboxState, org: Organization, anchor: date) -> None:
    """Patterns for the organization's ACTIVE keys and members, and a part-used spend commit."""
    rng = random.Random(
        f"usage:{state.seed}:{org.organization_id}"
    )  # its own dice: ids stay as they were
    state.usage_anchor = anchor.isoformat()
    found = [key_pattern(rng, k.api_key_id) for k in org.api_keys.values() if k.status == "ACTIVE"]
    found += [
        member_pattern(rng, state.users[uid].email_address)
        for uid in list(org.members)[:MEMBER_HISTORY_LIMIT]
    ]
    org.usage = [p for p in found if p is not None]
    org.commit = part_used_commit(anchor, state.seed, org.usage)
