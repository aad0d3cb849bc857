"""The one module that speaks HTTP to the Ideogram management API.

`ApiReader` can only read: `drift` gets one, so it cannot write by construction. `ApiClient` adds
the writes. Reads are retried on 429, 5xx and connection errors with backoff, jitter and
Retry-After; writes are retried only when the server provably did nothing (429, or a connection
that never opened). After any other failure of a write the caller must re-read and re-plan.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
import pydantic

from ..defaults import MAX_RESPONSE_BYTES, MAX_SERVER_MESSAGE, TIMEOUT_SECONDS, TOKEN_ENV
from ..errors import (
    AmbiguousWriteError,
    ApiError,
    BadRequestError,
    ForbiddenError,
    NetworkError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitedError,
    ServerError,
    UnauthorizedError,
)
from .bounded import ACCEPT_ENCODING, read_bounded, whole
from .clock import SYSTEM_CLOCK, Clock
from .credentials import is_loopback
from .endpoints import (
    ADD_MEMBERS,
    CREATE_KEY,
    DEACTIVATE_KEY,
    GET_MEMBERS,
    GET_ORG_KEYS,
    GET_PROFILES,
    GET_USER_SUGGESTIONS,
    PROMOTE_MEMBERS,
    REMOVE_MEMBERS,
    Endpoint,
)
from .wire import (
    ApiKeyInfo,
    ApiKeysResponse,
    ApiProfile,
    CreatedKey,
    LiteMember,
    MemberOperationResponse,
    MemberResult,
    MembersResponse,
    OrganizationMember,
    ProfilesResponse,
    UserSuggestion,
    UserSuggestionsResponse,
    decode_shared,
)

log = logging.getLogger("ideogram_org.client")
WAITING_NOTICE_SECONDS = 5
Model = TypeVar("Model")


_ADAPTERS: dict[type, pydantic.TypeAdapter[Any]] = {}


def _adapter(model: type[Model]) -> pydantic.TypeAdapter[Model]:
    """Models and the slotted dataclasses of large answers are read the same way."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = pydantic.TypeAdapter(model)
    return adapter


Params = dict[
    str, str | list[str]
]  # a list goes out as repeated parameters (OpenAPI form, explode)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, for a read
    backoff: float = 0.5  # first backoff, doubled each time, with full jitter
    max_backoff: float = 8.0
    retry_after_cap: float = 60.0  # a longer Retry-After is reported, not waited out


@dataclass(frozen=True)
class MemberCallOutcome:
    """What a member call did: one result per member, in request order.

    2026-06 says it per member. 2025-10 answers for the whole call, so every member shares it.
    """

    results: tuple[MemberResult, ...]
    rejected_whole: bool = False  # 2025-10 answered 400: nothing of the call was applied


Reader = TypeVar("Reader", bound="ApiReader")


class _SlowCallWatch:
    """One background thread per client that says, once per call, when an answer is slow in coming:
    cheaper than a timer thread per request on the hot path."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._calls: dict[int, tuple[float, str, str, float]] = {}  # ticket -> (start, ...)
        self._lock = threading.Lock()
        self._next = 0
        self._thread: threading.Thread | None = None
        self._clock = clock
        self._stopped = threading.Event()

    def begin(self, method: str, path: str, timeout: float) -> int:
        with self._lock:
            self._next += 1
            self._calls[self._next] = (self._clock.monotonic(), method, path, timeout)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="slow-call-watch", daemon=True
                )
                self._thread.start()
            return self._next

    def end(self, ticket: int) -> None:
        with self._lock:
            self._calls.pop(ticket, None)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._clock.wait(self._stopped, min(0.5, WAITING_NOTICE_SECONDS / 4)):
            now = self._clock.monotonic()
            with self._lock:
                slow = [
                    (t, c) for t, c in self._calls.items() if now - c[0] >= WAITING_NOTICE_SECONDS
                ]
                for ticket, _ in slow:
                    del self._calls[ticket]  # one notice per call
            for _, (_, method, path, timeout) in slow:
                log.warning(
                    "still waiting for %s %s after %d s (the limit is %g s: --timeout)",
                    method,
                    path,
                    WAITING_NOTICE_SECONDS,
                    timeout,
                )


class ApiReader:
    """Read-only access to the management API."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        inflight_limit: int = 4,
        clock: Clock = SYSTEM_CLOCK,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._token = token
        self.max_response_bytes = max_response_bytes
        self.endpoint = endpoint
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._random = random.Random()
        self.calls: Counter[str] = Counter()  # operationId -> requests sent, retries included
        self._calls_lock = threading.Lock()
        self.inflight_limit = max(1, inflight_limit)
        self._inflight = threading.BoundedSemaphore(self.inflight_limit)
        self.clock = clock
        self._watch = _SlowCallWatch(clock)
        self.server_clock_offset: float | None = None  # seconds the server is ahead; None: unknown
        # Proxies, netrc and custom CAs come from the environment (trust_env) for a real endpoint,
        # so CONNECT keeps TLS end to end; never for loopback, where a proxy would see the token
        # in clear.
        self._http = httpx.Client(
            base_url=endpoint,
            transport=transport,
            trust_env=not is_loopback(urlsplit(endpoint).hostname or ""),
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": "ideogram-org",
            },
            follow_redirects=False,
        )

    # --- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        self._watch.stop()
        self._http.close()

    def __enter__(self: Reader) -> Reader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def set_inflight_limit(self, limit: int) -> None:
        """Honour the profile's max_num_inflight_requests_permitted from now on."""
        self.inflight_limit = max(1, limit)
        self._inflight = threading.BoundedSemaphore(self.inflight_limit)

    def total_calls(self) -> int:
        return sum(self.calls.values())

    # --- reads ------------------------------------------------------------------------------------

    def get_profiles(self) -> list[ApiProfile]:
        response = self._read(GET_PROFILES)
        return self._parse(ProfilesResponse, response).profiles

    def get_members(self, organization_id: str) -> list[OrganizationMember]:
        response = self._read(GET_MEMBERS, params={"organization_id": organization_id})
        return self._parse(MembersResponse, response).members

    def get_org_keys(self, organization_id: str) -> list[ApiKeyInfo]:
        """Every key of the organization. 2026-06 only: a 2025-10 server answers 404
        (NotFoundError)."""
        response = self._read(GET_ORG_KEYS, params={"organization_id": organization_id})
        return self._parse(ApiKeysResponse, response).api_keys

    def user_suggestions(
        self, organization_id: str, handle_prefix: str, max_items: int
    ) -> list[UserSuggestion]:
        """Ideogram users whose handle starts with `handle_prefix` (2026-06 only)."""
        params: Params = {
            "organization_id": organization_id,
            "user_handle_prefix": handle_prefix,
            "maxItems": str(max_items),
        }
        response = self._read(GET_USER_SUGGESTIONS, params=params)
        return self._parse(UserSuggestionsResponse, response).user_suggestions

    def fetch(self, endpoint: Endpoint, model: type[Model], params: Params) -> Model:
        """A read from the endpoint table, parsed into `model`: for readers kept in their own module
        (api/usage.py), with the retries, limits and errors of every other read."""
        return self._parse(model, self._read(endpoint, params=params))

    # --- plumbing ---------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def clip(self, text: str | None) -> str | None:
        """Server text as the tool keeps it: redacted, and at most MAX_SERVER_MESSAGE characters
        (a 70 KB message per member must not grow the audit log without bound)."""
        if text is None:
            return None
        text = self.redact(text)
        if len(text) <= MAX_SERVER_MESSAGE:
            return text
        return f"{text[:MAX_SERVER_MESSAGE]}... ({len(text) - MAX_SERVER_MESSAGE} more characters)"

    def _note_server_clock(self, response: httpx.Response) -> None:
        """How far the server's clock is from ours, from its Date header (1 s resolution): what
        settling a lost create needs to compare the server's creation times with our records."""
        try:
            when = parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError, IndexError):
            return
        if when.tzinfo is not None:
            self.server_clock_offset = when.timestamp() - time.time()

    def _count(self, operation: str) -> None:
        with self._calls_lock:
            self.calls[operation] += 1

    def _read(self, endpoint: Endpoint, params: Params | None = None) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = self._send(endpoint, params=params)
            except NetworkError:
                if last:
                    raise
                self._backoff(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    raise self._error(response)
                self._backoff(attempt, response)
                continue
            if response.status_code >= 300:
                raise self._error(response)
            return response

    def _send(self, endpoint: Endpoint, **kwargs: Any) -> httpx.Response:
        self._count(endpoint.operation_id)
        method, path = endpoint.method, endpoint.path
        with self._inflight:
            started = time.monotonic()
            ticket = self._watch.begin(method, path, self.timeout)
            try:
                with self._http.stream(method, path, **kwargs) as streamed:
                    deadline = started + self.timeout
                    try:
                        body = read_bounded(streamed, self.max_response_bytes, deadline)
                    except ApiError as exc:
                        if endpoint.writes and not isinstance(exc, NetworkError):
                            # the write was received and answered: it may have acted
                            raise AmbiguousWriteError(str(exc), method=method, path=path) from None
                        raise
                response = whole(streamed, body)
                self._note_server_clock(response)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                log.info("%s %s: no connection (%s)", method, path, type(exc).__name__)
                raise NetworkError(
                    f"cannot connect to {self.endpoint}",
                    sent=False,
                    method=method,
                    path=path,
                    server_message=self.redact(str(exc)),
                ) from None
            except httpx.TimeoutException:
                log.info(
                    "%s %s: timed out after %.0f ms",
                    method,
                    path,
                    (time.monotonic() - started) * 1000,
                )
                raise NetworkError(
                    f"timed out after {self.timeout:g} s waiting for the server (raise the limit "
                    f"with --timeout)",
                    sent=True,
                    method=method,
                    path=path,
                ) from None
            except httpx.TransportError as exc:
                log.info("%s %s: connection failed (%s)", method, path, type(exc).__name__)
                raise NetworkError(
                    "the connection failed",
                    sent=True,
                    method=method,
                    path=path,
                    server_message=self.redact(str(exc)),
                ) from None
            finally:
                self._watch.end(ticket)
            log.info(
                "%s %s -> %d in %.0f ms",
                method,
                path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            return response

    def _backoff(self, attempt: int, response: httpx.Response | None) -> None:
        retry_after = _retry_after(response) if response is not None else None
        if retry_after is not None:
            if retry_after > self.retry.retry_after_cap and response is not None:
                raise self._error(response)
            delay = retry_after
        else:
            delay = self._random.uniform(
                0, min(self.retry.max_backoff, self.retry.backoff * 2 ** (attempt - 1))
            )
        log.info("retrying in %.2f s (attempt %d of %d)", delay, attempt + 1, self.retry.attempts)
        self._sleep(delay)

    def _error(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        method, path = response.request.method, response.request.url.path
        message = self.redact(_server_message(response))
        kinds: dict[int, tuple[type[ApiError], str]] = {
            400: (BadRequestError, "the server rejected the request (400)"),
            401: (UnauthorizedError, f"the token was refused (401): check {TOKEN_ENV}"),
            402: (
                PaymentRequiredError,
                "payment is required (402): the organization's billing must be "
                "set up before it can create API keys",
            ),
            403: (
                ForbiddenError,
                "not allowed (403): the token's user must be an OWNER of the organization",
            ),
            404: (NotFoundError, "not found (404)"),
            429: (RateLimitedError, "rate limited (429) and out of retries"),
        }
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("location", "")).hostname or "an unnamed place"
            return ApiError(
                f"the server answered {status}, a redirect to {target}; redirects are never "
                "followed, "
                f"and nothing is counted as done: check --endpoint",
                method=method,
                path=path,
                status=status,
            )
        cls, text = kinds.get(
            status,
            (ServerError, f"server error ({status})")
            if status >= 500
            else (ApiError, f"unexpected answer ({status})"),
        )
        return cls(text, method=method, path=path, status=status, server_message=message)

    def _parse(self, model: type[Model], response: httpx.Response) -> Model:
        """The answer decoded into `model`: a msgspec struct for the large answers, else a
        pydantic model."""
        content = response.content
        try:
            if issubclass(model, msgspec.Struct):
                return msgspec.json.decode(content, type=model, dec_hook=decode_shared)
            return _adapter(model).validate_json(content)
        except msgspec.DecodeError as exc:  # a ValidationError too: "... - at `$.members[3]`"
            raise _shape_error(response, str(exc)) from None
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise _shape_error(response, f"{where}: {first['msg']}") from None


def shape_error(why: str, method: str, path: str, status: int | None = None) -> ApiError:
    """An answer the tool cannot read: the one wording, whoever decodes it."""
    return ApiError(
        f"the server's answer does not have the expected shape ({why})",
        method=method,
        path=path,
        status=status,
    )


def _shape_error(response: httpx.Response, why: str) -> ApiError:
    return shape_error(
        why, response.request.method, response.request.url.path, response.status_code
    )


class ApiClient(ApiReader):
    """Reads and writes. Writes are never retried after the request may have reached the server."""

    def member_call(
        self, endpoint: Endpoint, organization_id: str, members: list[LiteMember]
    ) -> MemberCallOutcome:
        """One add, promote or remove call for a list of members."""
        response = self._write(
            endpoint,
            params={"organization_id": organization_id},
            json={"members": [m.body() for m in members]},
            tolerate_400=True,
        )
        if response.status_code == 204:
            return MemberCallOutcome(tuple(MemberResult(success=True) for _ in members))
        if response.status_code == 400:  # 2025-10: the whole call failed, nothing was applied
            failed = MemberResult(
                success=False, message=self.redact(_server_message(response)) or "bad request"
            )
            return MemberCallOutcome(tuple(failed for _ in members), rejected_whole=True)
        results = self._parse_write(MemberOperationResponse, response).results
        if len(results) != len(members):
            raise AmbiguousWriteError(
                f"the server answered {len(results)} results for {len(members)} members, so "
                f"which of them it carried out is unknown until the organization is read again",
                method="POST",
                path=endpoint.path,
                status=response.status_code,
            )
        return MemberCallOutcome(
            tuple(MemberResult(success=r.success, message=self.clip(r.message)) for r in results)
        )

    def add_members(self, organization_id: str, members: list[LiteMember]) -> MemberCallOutcome:
        return self.member_call(ADD_MEMBERS, organization_id, members)

    def promote_members(self, organization_id: str, members: list[LiteMember]) -> MemberCallOutcome:
        return self.member_call(PROMOTE_MEMBERS, organization_id, members)

    def remove_members(self, organization_id: str, members: list[LiteMember]) -> MemberCallOutcome:
        return self.member_call(REMOVE_MEMBERS, organization_id, members)

    def deactivate_key(self, api_key_id: str) -> None:
        self._write(DEACTIVATE_KEY, params={"api_key_id": api_key_id})

    def create_key(self, organization_id: str) -> CreatedKey:
        response = self._write(CREATE_KEY, params={"organization_id": organization_id})
        return self._parse_write(CreatedKey, response)

    def _parse_write(self, model: type[Model], response: httpx.Response) -> Model:
        """A write's success answer: one the tool cannot read leaves the outcome unknown."""
        try:
            return self._parse(model, response)
        except ApiError as exc:
            raise AmbiguousWriteError(
                f"{exc}; the write may have been carried out",
                method=exc.method,
                path=exc.path,
                status=exc.status,
            ) from None

    def _write(
        self, endpoint: Endpoint, *, tolerate_400: bool = False, **kwargs: Any
    ) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = self._send(endpoint, **kwargs)
            except NetworkError as exc:
                if exc.sent or last:
                    raise  # ambiguous: the server may have acted; the caller re-reads
                self._backoff(attempt, None)
                continue
            if response.status_code == 429 and not last:
                self._backoff(attempt, response)  # refused before acting: safe to send again
                continue
            if response.status_code >= 300 and not (tolerate_400 and response.status_code == 400):
                raise self._error(
                    response
                )  # a 3xx is an error too: a redirected write was not applied
            return response


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past any reason
        return response.text[:200].strip()
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str):
                return value[:200]
    return ""
