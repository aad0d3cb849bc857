"""One pass of apply: the plan's pending changes sent as batched, ordered calls.

Order per organization: add, promote, create keys, remove, deactivate, so owners only grow before
anyone is removed. An owner is removed only while the owners already confirmed stay at or above
min_owners, and only after a fresh read of the organization shows enough owners: another machine's
apply may have removed one meanwhile. Member calls take up to `chunk_size` members each; key
deactivations go concurrently within the inflight limit.
"""

from __future__ import annotations

import json

from ..api.endpoints import (
    ADD_MEMBERS,
    CREATE_KEY,
    DEACTIVATE_KEY,
    PROMOTE_MEMBERS,
    REMOVE_MEMBERS,
    Endpoint,
)
from ..defaults import CHUNK_SIZE
from ..errors import ApiError
from ..planning.changes import (
    Change,
    KeyCreate,
    KeyDeactivate,
    MemberAdd,
    MemberChange,
    MemberPromote,
    MemberRemove,
)
from ..planning.plan import Plan
from ..planning.safety import OrganizationSummary
from .calls import CallSender, chunks, lite_member


def _of_type(changes: list[Change], indexes: list[int], kind: type | tuple[type, ...]) -> list[int]:
    return [i for i in indexes if isinstance(changes[i], kind)]


def dry_run_calls(plan: Plan, chunk_size: int) -> list[str]:
    """The exact calls a run would send if every call succeeded, in the order it would send them."""
    calls: list[str] = []
    for org in plan.organizations:
        mine = [c for c in plan.changes if c.organization == org.name]
        removals = [c for c in mine if isinstance(c, MemberRemove)]
        batches: list[tuple[Endpoint, list[MemberChange]]] = [
            (ADD_MEMBERS, [c for c in mine if isinstance(c, MemberAdd)]),
            (PROMOTE_MEMBERS, [c for c in mine if isinstance(c, MemberPromote)]),
        ]
        for endpoint, batch in batches:
            calls += _member_calls(endpoint, org.organization_id, batch, chunk_size)
        calls += [
            f"{CREATE_KEY.method} {CREATE_KEY.path}?organization_id={org.organization_id}"
            for c in mine
            if isinstance(c, KeyCreate)
        ]
        calls += _member_calls(
            REMOVE_MEMBERS,
            org.organization_id,
            [c for c in removals if c.current_role != "OWNER"],
            chunk_size,
        )
        calls += _member_calls(
            REMOVE_MEMBERS,
            org.organization_id,
            [c for c in removals if c.current_role == "OWNER"],
            1,
        )  # one by one, each after a read
        calls += [
            f"{DEACTIVATE_KEY.method} {DEACTIVATE_KEY.path}?api_key_id={c.key_id}"
            for c in mine
            if isinstance(c, KeyDeactivate)
        ]
    return calls


def _member_calls(
    endpoint: Endpoint, org_id: str, batch: list[MemberChange], chunk_size: int
) -> list[str]:
    return [
        f"{endpoint.method} {endpoint.path}?organization_id={org_id} "
        + json.dumps({"members": [lite_member(c.member).body() for c in chunk]})
        for chunk in chunks(batch, chunk_size)
    ]


class Executor(CallSender):
    """Orders the calls of one pass; `CallSender` sends and records them."""

    chunk_size = CHUNK_SIZE

    def execute(self, todo: list[int]) -> None:
        by_org: dict[str, list[int]] = {}
        for i in todo:
            by_org.setdefault(self.changes[i].organization, []).append(i)
        summaries = {s.name: s for s in self.plan.organizations}
        self.calls_planned = self.calls_done + sum(
            self._count_calls(indexes) for indexes in by_org.values()
        )
        for organization, indexes in by_org.items():
            self.execute_organization(summaries[organization], indexes)

    def execute_organization(self, summary: OrganizationSummary, indexes: list[int]) -> None:
        organization, org_id = summary.name, summary.organization_id
        if summary.caller_role != "OWNER":
            for i in indexes:
                self.settle(
                    i,
                    "failed",
                    f"you are {summary.caller_role} of {organization}, not OWNER: "
                    f"the API refuses every change",
                )
            return
        size = self.chunk_size
        self.member_calls(
            "member.add", org_id, organization, _of_type(self.changes, indexes, MemberAdd), size
        )
        self.member_calls(
            "member.promote", org_id, organization, self._promotions_ready(indexes), size
        )
        self.create_keys(org_id, organization, _of_type(self.changes, indexes, KeyCreate))
        removals = _of_type(self.changes, indexes, MemberRemove)
        owners = [i for i in removals if self._current_role(i) == "OWNER"]
        self.member_calls(
            "member.remove", org_id, organization, [i for i in removals if i not in owners], size
        )
        for i in owners:
            self._remove_owner(summary, i)
        self.deactivate_keys(organization, _of_type(self.changes, indexes, KeyDeactivate))

    def _remove_owner(self, summary: OrganizationSummary, index: int) -> None:
        """One owner at a time, each after a fresh read shows that min_owners will still hold."""
        confirmed = summary.owners_before + self.owner_delta.get(summary.name, 0)
        if confirmed - 1 < summary.min_owners:
            self.hold(
                index,
                "deferred",
                f"not removed: it would leave fewer than min_owners ({summary.min_owners}) "
                f"owners while earlier promotions are unconfirmed",
            )
            return
        try:
            fresh = sum(
                1 for m in self.client.get_members(summary.organization_id) if m.role == "OWNER"
            )
        except ApiError as exc:
            self.hold(
                index, "deferred", f"not removed: the owner count could not be read first ({exc})"
            )
            return
        if fresh - 1 < summary.min_owners:
            self.settle(
                index,
                "skipped",
                f"not removed: a fresh read shows {fresh} owner(s), and removing one would "
                f"leave fewer than min_owners ({summary.min_owners}); another apply may "
                f"have removed one",
            )
            return
        self.member_call("member.remove", summary.organization_id, summary.name, [index])

    def _current_role(self, index: int) -> str:
        change = self.changes[index]
        return change.current_role if isinstance(change, MemberRemove) else ""

    def _promotions_ready(self, indexes: list[int]) -> list[int]:
        """Promotions whose member is known to be in the organization; the rest wait or are
        skipped."""
        ready = []
        for i in _of_type(self.changes, indexes, MemberPromote):
            change = self.changes[i]
            assert isinstance(change, MemberPromote)
            add = self._add_for(change) if change.after_add else None
            if add is not None and add in self.pending:
                self.hold(i, "deferred", "waiting to learn whether the add went through")
            elif add is not None and add in self.final and self.final[add].outcome != "applied":
                self.settle(i, "skipped", "not promoted: adding the member failed")
            else:
                ready.append(i)
        return ready

    def _add_for(self, promotion: MemberPromote) -> int | None:
        return next(
            (
                j
                for j, other in enumerate(self.changes)
                if isinstance(other, MemberAdd)
                and other.member == promotion.member
                and other.organization_id == promotion.organization_id
            ),
            None,
        )

    def _count_calls(self, indexes: list[int]) -> int:
        per_member_kind = [
            len(_of_type(self.changes, indexes, kind))
            for kind in (MemberAdd, MemberPromote, MemberRemove)
        ]
        keys = len(_of_type(self.changes, indexes, (KeyCreate, KeyDeactivate)))
        return sum(-(-count // self.chunk_size) for count in per_member_kind) + keys
