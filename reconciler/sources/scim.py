"""A `scim` source: the members of a group of a SCIM 2.0 service (RFC 7643, RFC 7644), as an
identity provider serves them.

The group is found by `displayName` (a filter, RFC 7644 3.4.2.2), its members read from it
(member groups expanded, each once), and the users' emails from `/Users`, read page by page
(`startIndex`, `count`, until `totalResults`). Every answer is validated with scim2-models
before it is used; an inactive user is reported and left out. The bearer token comes from the
environment only.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pydantic
from scim2_models import Context, Group, ListResponse, User

from ..api.credentials import check_endpoint
from ..config.source_models import ScimSource
from ..errors import UsageError
from ..model.sources import SourcedEntry
from .base import MemberSource, SourceAnswer, SourceError

PAGE = 100
MAX_PAGES = 10_000
QUERY = Context.RESOURCE_QUERY_RESPONSE


class ScimGroupSource(MemberSource):
    def __init__(self, source: ScimSource, transport: httpx.BaseTransport | None = None) -> None:
        self.source, self.spec, self.transport = source, source.scim, transport

    def describe(self) -> str:
        return self.source.describe()

    def _client(self) -> httpx.Client:
        token = os.environ.get(self.spec.token_env, "").strip()
        if not token:
            raise SourceError(self.describe(), f"set {self.spec.token_env} to a bearer token")
        try:
            base = check_endpoint(self.spec.url)
        except UsageError as exc:
            raise SourceError(self.describe(), str(exc)) from None
        return httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/scim+json"},
            timeout=self.spec.timeout,
            transport=self.transport,
        )

    def _get(self, client: httpx.Client, path: str, params: dict[str, Any]) -> Any:
        try:
            response = client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(self.describe(), f"GET {path}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise SourceError(self.describe(), f"GET {path}: HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(self.describe(), f"GET {path}: the answer is not JSON") from None

    def _list(self, client: httpx.Client, path: str, model: type, **params: Any) -> list[Any]:
        """Every resource of a list, page by page."""
        found: list[Any] = []
        start = 1
        for _ in range(MAX_PAGES):
            data = self._get(client, path, {**params, "startIndex": start, "count": PAGE})
            try:
                page = ListResponse[model].model_validate(data, scim_ctx=QUERY)  # type: ignore[valid-type]
            except pydantic.ValidationError as exc:
                raise SourceError(
                    self.describe(),
                    f"GET {path}: not a SCIM list response ({exc.error_count()} problem(s))",
                ) from None
            resources = page.resources or []
            found += resources
            total = page.total_results or 0
            if not resources or start - 1 + len(resources) >= total:
                return found
            start += len(resources)
        raise SourceError(self.describe(), f"GET {path}: more than {MAX_PAGES} pages")

    def read(self) -> SourceAnswer:
        with self._client() as client:
            named = self._list(
                client, "/Groups", Group, filter=f'displayName eq "{_quoted(self.spec.group)}"'
            )
            if len(named) != 1:
                raise SourceError(
                    self.describe(),
                    "no group has this displayName"
                    if not named
                    else f"{len(named)} groups have this displayName",
                )
            groups = {str(g.id): g for g in self._list(client, "/Groups", Group)}
            member_ids = self._expand(groups, str(named[0].id))
            users = {str(u.id): u for u in self._list(client, "/Users", User)}
        entries, skipped = [], []
        for user_id in sorted(member_ids):
            user = users.get(user_id)
            if user is None:
                skipped.append(f"user {user_id}: a member of the group, but not in /Users")
            elif user.active is False:
                skipped.append(f"user {user.user_name or user_id}: inactive")
            elif (email := _email_of(user)) is None:
                skipped.append(f"user {user.user_name or user_id}: no email")
            else:
                entries.append(SourcedEntry("email", email, self.source.role))
        return SourceAnswer(entries, skipped)

    @staticmethod
    def _expand(groups: dict[str, Group], start: str) -> set[str]:
        users: set[str] = set()
        seen: set[str] = set()
        todo = [start]
        while todo:
            current = todo.pop()
            if current in seen or current not in groups:
                continue
            seen.add(current)
            for member in groups[current].members or []:
                value = str(member.value or "")
                if member.type == "Group" or value in groups:
                    todo.append(value)
                elif value:
                    users.add(value)
        return users


def _email_of(user: User[Any]) -> str | None:
    emails = [e for e in user.emails or [] if e.value]
    chosen = (
        next((e for e in emails if e.primary), None)
        or next((e for e in emails if e.type == "work"), None)
        or (emails[0] if emails else None)
    )
    return str(chosen.value) if chosen is not None else None


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
