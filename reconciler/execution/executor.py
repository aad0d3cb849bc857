"""One pass of apply: the call program of the plan's pending changes, run step by step.

The steps and their order come from `program` (the dry run prints the same list). What this adds
is what only a run can know: a promotion waits for the add of its member, and an owner is removed
only while the owners already confirmed stay at or above min_owners, and only after a fresh read
of the organization shows enough owners (another machine's apply may have removed one meanwhile).
The calls of one step go out concurrently within the inflight limit.
"""

from __future__ import annotations

from typing import Literal

from ..defaults import CHUNK_SIZE
from ..errors import ApiError
from ..model.changes import MemberAdd, MemberPromote
from ..model.safety import OrganizationSummary
from .calls import CallSender, MemberAction, StopRequested
from .program import Call, Step, calls_of, phases, program


class Executor(CallSender):
    """Runs the program; `CallSender` sends and records each call."""

    chunk_size = CHUNK_SIZE

    def execute(self, todo: list[int]) -> None:
        summaries = {s.name: s for s in self.plan.organizations}
        for i in todo:
            summary = summaries[self.changes[i].organization]
            if summary.caller_role != "OWNER":
                self.settle(
                    i,
                    "failed",
                    f"you are {summary.caller_role} of {summary.name}, not OWNER: the API refuses "
                    f"every change",
                )
        steps = program(self.plan, self.chunk_size, todo)
        with self._lock:
            self.calls_planned = self.calls_done + len(calls_of(steps))
        for phase in phases(steps):
            self.run_phase(phase, summaries[phase[0][0].organization])

    def run_phase(self, phase: list[Step], summary: OrganizationSummary) -> None:
        """The phase's intents on record and published, then its calls; an intent whose call
        was not sent (a stop, a fresh read that forbade it) is closed as not sent."""
        if self.stop.is_set():
            raise StopRequested
        if phase[0][0].action == "member.promote":
            phase = [ready for step in phase if (ready := tuple(self._ready(step)))]
        self.prepare(calls_of(phase))
        self.audit.checkpoint()
        try:
            for step in phase:
                self.run_step(step, summary)
        finally:
            self.close_unsent("not sent: the run stopped first")

    def run_step(self, step: Step, summary: OrganizationSummary) -> None:
        first = step[0]
        org_id, organization = first.organization_id, first.organization
        if first.action == "key.create":
            self.create_key(org_id, organization, first.indexes[0])
        elif first.owner_removal:
            self._remove_owner(summary, first.indexes[0])
        elif first.action == "key.deactivate":
            self.concurrently(
                lambda call: self.deactivate_key(organization, call.indexes[0]), list(step)
            )
        else:
            action: MemberAction = first.action  # the branches above took the key calls
            self.concurrently(
                lambda call: self.member_call(action, org_id, organization, list(call.indexes)),
                list(step),
            )

    def _remove_owner(self, summary: OrganizationSummary, index: int) -> None:
        """One owner at a time, each after a fresh read shows that min_owners will still hold."""
        confirmed = summary.owners_before + self.owner_delta.get(summary.name, 0)
        if confirmed - 1 < summary.min_owners:
            self._not_sent(
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
            self._not_sent(
                index, "deferred", f"not removed: the owner count could not be read first ({exc})"
            )
            return
        if fresh - 1 < summary.min_owners:
            self._not_sent(
                index,
                "skipped",
                f"not removed: a fresh read shows {fresh} owner(s), and removing one would "
                f"leave fewer than min_owners ({summary.min_owners}); another apply may have "
                f"removed one",
            )
            return
        self.member_call("member.remove", summary.organization_id, summary.name, [index])

    def _not_sent(self, index: int, state: Literal["deferred", "skipped"], message: str) -> None:
        """A call of the program that is not sent: it leaves the count of planned calls, and its
        intent is closed."""
        with self._lock:
            self.calls_planned -= 1
        self.close_intent("member.remove", self.changes[index].organization, (index,), message)
        if state == "deferred":
            self.hold(index, "deferred", message)
        else:
            self.settle(index, "skipped", message)

    def _ready(self, step: Step) -> list[Call]:
        """The promotion calls, each with only the members known to be in the organization; the
        rest wait for a re-read (their add's outcome is unknown) or are skipped (it failed)."""
        ready: list[Call] = []
        for call in step:
            keep = []
            for i in call.indexes:
                change = self.changes[i]
                assert isinstance(change, MemberPromote)
                add = self._add_for(change) if change.after_add else None
                if add is not None and add in self.pending:
                    self.hold(i, "deferred", "waiting to learn whether the add went through")
                elif add is not None and add in self.final and self.final[add].outcome != "applied":
                    self.settle(i, "skipped", "not promoted: adding the member failed")
                else:
                    keep.append(i)
            if keep:
                ready.append(
                    Call(call.organization, call.organization_id, call.action, tuple(keep))
                )
            else:
                with self._lock:
                    self.calls_planned -= 1
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
