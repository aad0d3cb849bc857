"""The sandbox's request handler: the management API's rules, for either spec version.

Transport-free: `Sandbox.handle()` takes a method, path, query, headers and body and returns a
`SandboxResponse`. The in-process httpx transport and the HTTP server both call it.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..api import endpoints, parameters
from ..api.endpoints import BY_ROUTE, Endpoint
from ..model.identity import normalise
from . import usage
from .faults import Decision, Faults
from .state import ApiKey, Organization, SandboxState, User, random_id

Handler = Callable[[dict[str, str], bytes], "SandboxResponse"]


@dataclass
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without an answer
    timed_out: bool = False  # slower than the client's timeout (in-process only)


@dataclass(frozen=True)
class Mutation:
    """One accepted change of state, with the owner count right after it."""

    operation: str
    organization_id: str
    target: str  # user_id or api_key_id
    owners_after: int


@dataclass(frozen=True)
class WriteRequest:
    """A write call that passed authentication, whatever its outcome."""

    operation: str
    query: dict[str, str]
    body: Any
    status: int


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> SandboxResponse:
    return SandboxResponse(
        status,
        json.dumps(payload).encode(),
        {"content-type": "application/json", **(headers or {})},
    )


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> SandboxResponse:
    return _json(status, {"detail": detail}, headers)


class _Reject(Exception):
    def __init__(self, response: SandboxResponse) -> None:
        self.response = response


class _MemberFailure(Exception):
    pass


class Sandbox:
    """A stateful fake of the Ideogram management API."""

    def __init__(
        self,
        state: SandboxState,
        faults: Faults | None = None,
        on_change: Callable[[SandboxState], None] | None = None,
    ) -> None:
        self.state = state
        self.faults = faults or Faults()
        self.on_change = on_change  # e.g. save the state file after each accepted write
        self.mutations: list[Mutation] = []
        self.write_requests: list[WriteRequest] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request received
        # api_key_id -> the secret its create answered with: what tests check a sink against.
        # In memory only, never saved with the state, as a real server keeps no copy either.
        self.issued_secrets: dict[str, str] = {}
        self.lock = threading.RLock()
        self._inflight = 0
        self.peak_inflight = 0  # most requests ever handled at once
        self.refused_over_limit = 0  # requests answered 429 because the inflight limit was reached
        self._rng = random.Random(state.seed + 1)
        self._handlers: dict[Endpoint, Handler] = {
            endpoints.GET_PROFILES: self._get_profiles,
            endpoints.GET_MEMBERS: self._get_members,
            endpoints.GET_ORG_KEYS: self._get_org_keys,
            endpoints.GET_USER_SUGGESTIONS: self._user_suggestions,
            endpoints.ADD_MEMBERS: lambda query, body: self._member_operation(
                endpoints.ADD_MEMBERS, query, body
            ),
            endpoints.PROMOTE_MEMBERS: lambda query, body: self._member_operation(
                endpoints.PROMOTE_MEMBERS, query, body
            ),
            endpoints.REMOVE_MEMBERS: lambda query, body: self._member_operation(
                endpoints.REMOVE_MEMBERS, query, body
            ),
            endpoints.DEACTIVATE_KEY: self._deactivate_key,
            endpoints.CREATE_KEY: self._create_key,
            endpoints.GET_USAGE: self._usage,
            endpoints.GET_SPEND_COMMIT: lambda query, body: self._spending(query, commits=True),
            endpoints.GET_CREDITS: lambda query, body: self._spending(query, commits=False),
            endpoints.LIST_INVOICES: self._invoices,
        }

    @property
    def api_version(self) -> str:
        return self.state.api_version

    # --- what tests ask ---------------------------------------------------------------------------

    def min_owners_seen(self, organization_id: str) -> int:
        """The fewest owners the organization had at any moment since the sandbox started."""
        org = self.state.organizations[organization_id]
        counts = [m.owners_after for m in self.mutations if m.organization_id == organization_id]
        return min([org.owners(), *counts]) if counts else org.owners()

    # --- the entry point --------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        client_timeout: float | None = None,
    ) -> SandboxResponse:
        with self.lock:
            self.requests.append((method, path))
            if self._inflight >= self.state.inflight_limit:
                self.refused_over_limit += 1
                return _error(429, "too many requests in flight", {"retry-after": "1"})
            self._inflight += 1
            self.peak_inflight = max(self.peak_inflight, self._inflight)
        try:
            return self._handle(method, path, query, headers, body, client_timeout)
        finally:
            with self.lock:
                self._inflight -= 1

    def _route(self, method: str, path: str) -> Endpoint | SandboxResponse:
        """The endpoint a request names in this version, or the 404 or 405 a server gives."""
        endpoint = BY_ROUTE.get((method, path))
        if endpoint is not None and endpoint.exists_in(self.api_version):
            return endpoint
        allowed = sorted(
            e.method for e in BY_ROUTE.values() if e.path == path and e.exists_in(self.api_version)
        )
        if endpoint is None and allowed:
            return _error(405, f"method {method} not allowed", {"allow": ", ".join(allowed)})
        return _error(404, f"no such endpoint: {method} {path}")

    def _record_write(
        self, operation: str, query: dict[str, str], body: bytes, response: SandboxResponse
    ) -> None:
        try:
            parsed_body = json.loads(body) if body else None
        except ValueError:
            parsed_body = None
        self.write_requests.append(
            WriteRequest(operation, dict(query), parsed_body, response.status)
        )
        if response.status < 300 and self.on_change:
            self.on_change(self.state)

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        client_timeout: float | None,
    ) -> SandboxResponse:
        endpoint = self._route(method, path)
        if isinstance(endpoint, SandboxResponse):
            return endpoint
        operation = endpoint.operation_id
        decision: Decision = self.faults.decide(operation)
        if decision.latency:
            time.sleep(decision.latency)
        if decision.rate_limited:
            return _error(429, "rate limited", {"retry-after": f"{decision.retry_after:g}"})
        if decision.error_status:
            return _error(decision.error_status, "injected server error")
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if not (auth.startswith("Bearer ") and secrets.compare_digest(auth[7:], self.state.token)):
            return _error(401, "missing or invalid bearer token")
        wrong = parameters.problems(self.api_version, operation, usage.lists_of(query))
        if wrong:  # a real server refuses a request its spec does not allow
            return _error(400, "; ".join(wrong))
        with self.lock:
            try:
                response = self._handlers[endpoint](query, body)
            except _Reject as rejected:
                response = rejected.response
            if endpoint.writes:
                self._record_write(operation, query, body, response)
        if decision.slow:
            if client_timeout is not None and decision.slow >= client_timeout:
                time.sleep(min(client_timeout, 0.05))
                response.timed_out = True
            else:
                time.sleep(decision.slow)
        response.drop = decision.drop
        return response

    # --- helpers ----------------------------------------------------------------------------------

    def _organization(self, query: dict[str, str], missing_status: int = 404) -> Organization:
        org = self.state.organizations.get(query.get("organization_id", ""))
        if org is None:
            raise _Reject(_error(missing_status, "organization not found"))
        if self.state.caller_user_id not in org.members:
            raise _Reject(_error(403, "not authorized: not a member of this organization"))
        return org

    def _require_owner(self, org: Organization) -> None:
        if org.members.get(self.state.caller_user_id) != "OWNER":
            raise _Reject(_error(403, "not authorized: must be an organization owner"))

    def _member_view(self, user: User, role: str) -> dict[str, Any]:
        view: dict[str, Any] = {
            "user_id": user.user_id,
            "display_handle": user.display_handle,
            "email_address": user.email_address,
            "avatar_url": user.avatar_url,
            "role": role,
        }
        if self.api_version == "2026-06" and not self.state.omit_full_name:
            view["full_name"] = user.full_name
        return view

    @staticmethod
    def _key_view(key: ApiKey) -> dict[str, Any]:
        return {
            "api_key_id": key.api_key_id,
            "redacted_api_key": key.redacted_api_key,
            "creation_time": key.creation_time,
            "status": key.status,
        }

    def _record(
        self, operation: str, org: Organization, target: str, owners: int | None = None
    ) -> None:
        """`owners`, when the caller tracks it: counting 100,000 members per change made a member
        call cost a tenth of a second."""
        self.mutations.append(
            Mutation(
                operation, org.organization_id, target, org.owners() if owners is None else owners
            )
        )

    # --- reads ------------------------------------------------------------------------------------

    def _get_profiles(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        caller = self.state.caller_user_id
        user = self.state.users.get(caller)
        profiles = [
            {
                "type": "INDIVIDUAL",
                "name": user.display_handle if user else "personal",
                "avatar_url": user.avatar_url if user else "https://ideogram.ai/avatars/none.png",
                "organization_id": "",
                "role": "OWNER",
                "api_keys": [],
                "is_metronome_2_user": False,
                "max_num_inflight_requests_permitted": self.state.inflight_limit,
            }
        ]
        for org in self.state.organizations.values():
            if caller in org.members:
                profiles.append(
                    {
                        "type": org.profile_type,
                        "name": org.name,
                        "avatar_url": f"https://ideogram.ai/orgs/{org.organization_id}.png",
                        "organization_id": org.organization_id,
                        "role": org.members[caller],
                        "api_keys": [
                            self._key_view(k)
                            for k in org.api_keys.values()
                            if k.api_key_id not in org.others_keys
                        ],
                        "is_metronome_2_user": False,
                        "max_num_inflight_requests_permitted": self.state.inflight_limit,
                    }
                )
        return _json(200, {"profiles": profiles})

    def _get_members(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        org = self._organization(query)
        if self.state.members_need_owner:  # the spec allows a 403 here: a server may need an owner
            self._require_owner(org)
        users = self.state.users
        members = [self._member_view(users[uid], role) for uid, role in org.members.items()]
        members += [
            self._member_view(users[uid], org.members[uid])
            for uid in org.repeated_members
            if uid in org.members
        ]
        return _json(200, {"members": members})

    def _user_suggestions(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        """Users whose handle starts with the prefix, alphabetical, with whether they joined."""
        org = self._organization(query)
        prefix = normalise("handle", query.get("user_handle_prefix", ""))
        most = int(query.get("maxItems", "3"))
        found = sorted(
            (
                u
                for u in self.state.users.values()
                if normalise("handle", u.display_handle).startswith(prefix)
            ),
            key=lambda u: u.display_handle,
        )[: max(0, most)]
        suggestions = [
            {"display_handle": u.display_handle, "joined": u.user_id in org.members} for u in found
        ]
        return _json(200, {"user_suggestions": suggestions})

    def _get_org_keys(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        org = self._organization(query)
        return _json(200, {"api_keys": [self._key_view(k) for k in org.api_keys.values()]})

    # --- usage (sandbox/usage.py) -----------------------------------------------------------------

    def _window(self, query: dict[str, str]) -> tuple[date, datetime, datetime]:
        try:
            return usage.window(query, self.state.usage_anchor)
        except ValueError as exc:
            raise _Reject(_error(400, str(exc))) from None

    def _usage(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        org = self._organization(query)
        self._require_owner(org)  # the query itself was checked against the spec in _handle
        anchor, start, end = self._window(query)
        return _json(
            200,
            {
                "usage_segments": usage.segments(
                    anchor,
                    self.state.seed,
                    org.usage,
                    self.api_version,
                    usage.lists_of(query),
                    start,
                    end,
                    query["segment_by"] == "HOUR",
                )
            },
        )

    def _spending(self, query: dict[str, str], commits: bool) -> SandboxResponse:
        org = self._organization(query)
        self._require_owner(org)
        anchor, start, end = self._window(
            query if not commits else {"start_time": "1970-01-01T00:00:00Z"}
        )
        if commits:
            # the spec: postpaid_only defaults to true, so without `false` no prepaid commit shows
            postpaid_only = query.get("postpaid_only", "true") == "true"  # checked in _handle
            commit = org.commit
            if commit is not None and postpaid_only and not commit.postpaid:
                commit = None
            return _json(200, usage.commits_answer(anchor, self.state.seed, org.usage, commit, end))
        return _json(200, usage.credits_answer(anchor, self.state.seed, org.usage, start, end))

    def _invoices(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        org = self._organization(query)
        self._require_owner(org)
        now = self.state.now()
        anchor = usage.anchor_day(self.state.usage_anchor, now)
        return _json(
            200,
            usage.invoices_answer(anchor, self.state.seed, org.usage, org.invoice_adjustments, now),
        )

    # --- member writes ----------------------------------------------------------------------------

    @staticmethod
    def _parse_members(body: bytes) -> list[dict[str, Any]]:
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            raise _Reject(_error(400, "request body is not JSON")) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("members"), list):
            raise _Reject(_error(400, "request body must be an object with a 'members' list"))
        for entry in payload["members"]:
            if not isinstance(entry, dict):
                raise _Reject(_error(400, "each member must be an object"))
            for name in ("user_id", "display_handle", "email_address"):
                if name in entry and not isinstance(entry[name], str):
                    raise _Reject(_error(400, f"member field {name} must be a string"))
        members: list[dict[str, Any]] = payload["members"]
        return members

    def _member_step(
        self, operation: str, org: Organization, entry: dict[str, Any], inject: bool = True
    ) -> tuple[str, int] | None:
        """Apply one member of a call to `org`; returns the user_id changed and the change in the
        owner count, None for a no-op."""
        if inject and self.faults.member_fails(operation, json.dumps(entry, sort_keys=True)):
            raise _MemberFailure("temporary failure processing this member, try again")
        if not any(k in entry for k in ("user_id", "display_handle", "email_address")):
            raise _MemberFailure("member has no user_id, display_handle or email_address")
        user = self.state.find_user(
            entry.get("user_id"), entry.get("email_address"), entry.get("display_handle")
        )
        if user is None:
            raise _MemberFailure("no Ideogram user matches this member")
        role = org.members.get(user.user_id)
        if operation == endpoints.ADD_MEMBERS.operation_id:
            if role is not None:
                return None
            org.members[user.user_id] = "MEMBER"
            return user.user_id, 0
        if operation == endpoints.PROMOTE_MEMBERS.operation_id:
            if role is None:
                raise _MemberFailure("user is not a member of this organization")
            if role == "OWNER":
                return None
            org.members[user.user_id] = "OWNER"
            return user.user_id, 1
        if role is None:
            raise _MemberFailure("user is not a member of this organization")
        if role == "OWNER" and org.owners() == 1:
            raise _MemberFailure("cannot remove the last owner of the organization")
        del org.members[user.user_id]
        return user.user_id, -1 if role == "OWNER" else 0

    def _member_operation(
        self, endpoint: Endpoint, query: dict[str, str], body: bytes
    ) -> SandboxResponse:
        operation = endpoint.operation_id
        org = self._organization(query)
        self._require_owner(org)
        entries = self._parse_members(body)
        if self.api_version == "2025-10":
            return self._member_operation_all_or_nothing(operation, org, entries)
        results = []
        owners = org.owners()
        for entry in entries:
            try:
                changed = self._member_step(operation, org, entry)
            except _MemberFailure as failure:
                results.append({"success": False, "message": str(failure)})
                continue
            if changed:
                owners += changed[1]
                self._record(operation, org, changed[0], owners)
            results.append({"success": True})
        return _json(200, {"results": results})

    def _member_operation_all_or_nothing(
        self, operation: str, org: Organization, entries: list[dict[str, Any]]
    ) -> SandboxResponse:
        before = dict(org.members)
        changed: list[str] = []
        for index, entry in enumerate(entries):
            try:
                step = self._member_step(operation, org, entry)
            except _MemberFailure as failure:
                org.members = before  # nothing of a failed 2025-10 call takes effect
                return _error(400, f"member {index}: {failure}")
            if step:
                changed.append(step[0])
        # replay the accepted changes one by one so the record shows every intermediate owner count
        org.members = dict(before)
        owners = org.owners()
        for user_id in changed:
            step = self._member_step(operation, org, {"user_id": user_id}, inject=False)
            owners += step[1] if step else 0
            self._record(operation, org, user_id, owners)
        return SandboxResponse(204)

    # --- key writes -------------------------------------------------------------------------------

    def _deactivate_key(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        key_id = query["api_key_id"]  # required: checked against the spec in _handle
        for org in self.state.organizations.values():
            key = org.api_keys.get(key_id)
            if key is None:
                continue
            if self.state.caller_user_id not in org.members:
                return _error(404, "API key not found")
            self._require_owner(org)
            if key.status != "DISABLED":
                key.status = "DISABLED"
                self._record(endpoints.DEACTIVATE_KEY.operation_id, org, key_id)
            return SandboxResponse(204)
        return _error(404, "API key not found")

    def _create_key(self, query: dict[str, str], body: bytes) -> SandboxResponse:
        # The spec lists no 404 for this call: an organization the caller cannot see is a 403.
        org = self._organization(query, missing_status=403)
        self._require_owner(org)
        if org.payment_required:
            return _error(402, "payment is required before creating an API key")
        secret = secrets.token_urlsafe(48)
        now = self.state.now()
        created = now.replace(microsecond=0).isoformat()
        key = ApiKey(
            api_key_id=random_id(self._rng),
            redacted_api_key=secret[:4] + "•" * 13,
            creation_time=created,
        )
        org.api_keys[key.api_key_id] = key
        self.issued_secrets[key.api_key_id] = secret
        self._record(endpoints.CREATE_KEY.operation_id, org, key.api_key_id)
        return _json(
            200, {"api_key": secret, "api_key_id": key.api_key_id, "creation_time": created}
        )
