"""The call program: the exact write calls a plan turns into, in the order apply sends them.

Pure: the dry run prints it, the executor runs it and progress counts it, so the three cannot
disagree. Per organization: add, promote, create keys, remove members who are not owners,
remove owners one at a time (each after a read shows min_owners will hold), deactivate keys;
owners only grow before anyone is removed. A step's calls may run at once; steps run in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ..api.endpoints import (
    ADD_MEMBERS,
    CREATE_KEY,
    DEACTIVATE_KEY,
    PROMOTE_MEMBERS,
    REMOVE_MEMBERS,
    Endpoint,
)
from ..model.changes import (
    Action,
    Change,
    KeyCreate,
    KeyDeactivate,
    KeyRotate,
    MemberAdd,
    MemberPromote,
    MemberRemove,
    member_of,
)
from ..model.plan import Plan

# the calls the program sends: a rotation's is a key.create (its successor)
CallAction = Literal[
    "member.add", "member.promote", "member.remove", "key.create", "key.deactivate"
]
MEMBER_ENDPOINTS: dict[Action, Endpoint] = {
    "member.add": ADD_MEMBERS,
    "member.promote": PROMOTE_MEMBERS,
    "member.remove": REMOVE_MEMBERS,
}


@dataclass(frozen=True)
class Call:
    """One write call: which changes of the plan it carries, and where it goes."""

    organization: str
    organization_id: str
    action: CallAction
    indexes: tuple[int, ...]  # positions in plan.changes
    owner_removal: bool = False  # sent alone, after a fresh read of the owner count

    @property
    def endpoint(self) -> Endpoint:
        if self.action == "key.create":
            return CREATE_KEY
        if self.action == "key.deactivate":
            return DEACTIVATE_KEY
        return MEMBER_ENDPOINTS[self.action]

    def describe(self, changes: list[Change]) -> str:
        """The call as the dry run prints it: method, path, query and body."""
        endpoint = self.endpoint
        first = changes[self.indexes[0]]
        if isinstance(first, KeyDeactivate):
            return f"{endpoint.method} {endpoint.path}?api_key_id={first.key_id}"
        line = f"{endpoint.method} {endpoint.path}?organization_id={self.organization_id}"
        if isinstance(first, KeyCreate | KeyRotate):
            return line
        members = [member_of(changes[i]).request_body() for i in self.indexes]
        return f"{line} {json.dumps({'members': members})}"


Step = tuple[Call, ...]


def _chunks(indexes: list[int], size: int) -> list[tuple[int, ...]]:
    return [tuple(indexes[i : i + size]) for i in range(0, len(indexes), size)]


def _current_role(change: Change) -> str:
    return change.current_role if isinstance(change, MemberRemove) else ""


def _organization_steps(
    changes: list[Change], name: str, org_id: str, mine: list[int], chunk_size: int
) -> list[Step]:
    def of(kind: type | tuple[type, ...]) -> list[int]:
        return [i for i in mine if isinstance(changes[i], kind)]

    def member_step(action: CallAction, indexes: list[int]) -> Step:
        return tuple(Call(name, org_id, action, chunk) for chunk in _chunks(indexes, chunk_size))

    removals = of(MemberRemove)
    owners = [i for i in removals if _current_role(changes[i]) == "OWNER"]
    steps: list[Step] = [
        member_step("member.add", of(MemberAdd)),
        member_step("member.promote", of(MemberPromote)),
        *((Call(name, org_id, "key.create", (i,)),) for i in of((KeyCreate, KeyRotate))),
        member_step("member.remove", [i for i in removals if i not in set(owners)]),
        *((Call(name, org_id, "member.remove", (i,), owner_removal=True),) for i in owners),
        tuple(Call(name, org_id, "key.deactivate", (i,)) for i in of(KeyDeactivate)),
    ]
    return [step for step in steps if step]


def program(plan: Plan, chunk_size: int, only: Iterable[int] | None = None) -> list[Step]:
    """The steps that carry out the plan's changes (or those at `only`), organization by
    organization, in the plan's order of organizations. An organization where the caller is not
    OWNER gets no call: the API would refuse every one."""
    wanted = set(range(len(plan.changes)) if only is None else only)
    steps: list[Step] = []
    for org in plan.organizations:
        if org.caller_role != "OWNER":
            continue
        mine = [i for i, c in enumerate(plan.changes) if i in wanted and c.organization == org.name]
        steps += _organization_steps(plan.changes, org.name, org.organization_id, mine, chunk_size)
    return steps


def phases(steps: list[Step]) -> list[list[Step]]:
    """The steps grouped into phases of writes: the adds, promotions, key creates, removals and
    deactivations of one organization, and each owner removal alone. Each phase's intents go on
    record (in a shared store: where every machine sees them) before its first call."""
    grouped: list[list[Step]] = []
    for step in steps:
        first = step[0]
        last = grouped[-1][-1][0] if grouped else None
        if (
            last is not None
            and not first.owner_removal
            and not last.owner_removal
            and (last.organization_id, last.action) == (first.organization_id, first.action)
        ):
            grouped[-1].append(step)
        else:
            grouped.append([step])
    return grouped


def calls_of(steps: list[Step]) -> list[Call]:
    return [call for step in steps for call in step]


def progress_line(done: int, planned: int, what: str) -> str | None:
    """The line a call of the program gets in a log without a progress bar: one per call when
    there are many, else every 50th."""
    return f"[{done}/{planned}] {what}" if planned >= 10 or done % 50 == 0 else None
