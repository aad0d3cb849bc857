"""GitHub Actions secrets: of a repository, of one of its environments, or of an organization.

As GitHub documents it: read the scope's public key, seal the secret to it with libsodium's sealed
box (PyNaCl), PUT `{encrypted_value, key_id}`, and GET the secret back for its `updated_at`
(GitHub never returns a secret's value). The token comes from the environment only and goes
nowhere but the Authorization header; no message repeats it.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox

from .. import defaults
from ..api.credentials import check_endpoint
from ..config.models import GithubSecretSink as GithubSecretEntry
from ..errors import DeliveryError, UsageError
from .sink import DeliveredCopy, NewKey, Receipt, SecretSink, Staged

API_VERSION = "2022-11-28"
MAX_MESSAGE = 200
ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
MAX_RETRY_AFTER = 10.0  # seconds: a longer Retry-After fails the delivery rather than wait


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        asked = float(response.headers.get("retry-after", default))
    except ValueError:
        return default
    return min(max(asked, 0.0), MAX_RETRY_AFTER)


class GithubApi:
    """The REST calls the sinks make, with one client per run."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sleep = sleep
        self.base_url = (
            base_url or os.environ.get(defaults.GITHUB_API_URL_ENV) or (defaults.GITHUB_API_URL)
        )
        self.token = (
            token
            if token is not None
            else os.environ.get(defaults.GITHUB_SECRETS_TOKEN_ENV, "").strip()
        )
        self._client: httpx.Client | None = None

    def ready(self, sink: str) -> httpx.Client:
        if not self.token:
            raise DeliveryError(
                sink,
                f"no token: set {defaults.GITHUB_SECRETS_TOKEN_ENV} to a token that may write "
                "Actions secrets there (the workflow's own GITHUB_TOKEN may not)",
            )
        if self._client is None:
            try:
                base = check_endpoint(self.base_url)
            except UsageError as exc:
                raise DeliveryError(sink, f"{defaults.GITHUB_API_URL_ENV}: {exc}") from None
            self._client = httpx.Client(
                base_url=base,
                timeout=defaults.GITHUB_TIMEOUT_SECONDS,
                headers={
                    "Accept": "application/vnd.github+json",
                    "Authorization": f"Bearer {self.token}",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": "ideogram-org",
                },
            )
        return self._client

    def call(
        self,
        sink: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response:
        """One call, sent again (at most ATTEMPTS times in all) on a 5xx, a 429 or a dropped
        connection: every call made here is a read or an idempotent PUT. A 404 is returned when
        `missing_ok`; any other 4xx is the sink's failure."""
        client = self.ready(sink)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                if attempt < ATTEMPTS:
                    self.sleep(BACKOFF_SECONDS * attempt)
                    continue
                raise DeliveryError(sink, f"{method} {path}: {type(exc).__name__}") from None
            retry = response.status_code >= 500 or response.status_code == 429
            if retry and attempt < ATTEMPTS:
                self.sleep(_retry_after(response, BACKOFF_SECONDS * attempt))
                continue
            if response.status_code == 404 and missing_ok:
                return response
            if response.status_code >= 400:
                raise DeliveryError(
                    sink, f"{method} {path}: HTTP {response.status_code}{_message(response)}"
                )
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _message(response: httpx.Response) -> str:
    """GitHub's own message, short and printable: a hostile answer cannot paint the terminal."""
    try:
        found = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(found, str):
        return ""
    text = "".join(c if c.isprintable() else "?" for c in found)[:MAX_MESSAGE]
    return f" ({text})" if text else ""


def _json_object(sink: str, response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise DeliveryError(sink, f"{response.request.url.path}: the answer is not a JSON object")
    return found


def seal(public_key: str, secret: bytes) -> str:
    """The secret sealed to the scope's public key (libsodium crypto_box_seal), base64."""
    box = SealedBox(PublicKey(base64.b64decode(public_key, validate=True)))
    return base64.b64encode(box.encrypt(secret)).decode()


class GithubSecretSink(SecretSink):
    commits_over_network = True

    def __init__(self, entry: GithubSecretEntry, api: GithubApi) -> None:
        self.entry, self.target, self.api = entry, entry.github_secret, api

    def describe(self) -> str:
        return self.entry.describe()

    @property
    def _scope(self) -> str:
        target = self.target
        if target.organization is not None:
            return f"/orgs/{quote(target.organization, safe='')}/actions/secrets"
        repository = "/".join(quote(part, safe="") for part in str(target.repository).split("/"))
        if target.environment is not None:
            return f"/repos/{repository}/environments/{quote(target.environment, safe='')}/secrets"
        return f"/repos/{repository}/actions/secrets"

    @property
    def _secret_path(self) -> str:
        return f"{self._scope}/{quote(self.target.name, safe='')}"

    def _public_key(self) -> tuple[str, str]:
        sink = self.describe()
        found = _json_object(sink, self.api.call(sink, "GET", f"{self._scope}/public-key"))
        key_id, key = found.get("key_id"), found.get("key")
        if not isinstance(key_id, str) or not isinstance(key, str) or not key_id:
            raise DeliveryError(sink, "the public key answer has no key_id and key")
        return key_id, key

    def check(self) -> None:
        self._public_key()

    def stage(self, key: NewKey) -> Staged:
        sink = self.describe()
        key_id, public_key = self._public_key()
        try:
            sealed = seal(public_key, key.secret.get_secret_value().encode())
        except (ValueError, CryptoError, TypeError):
            raise DeliveryError(sink, "GitHub's public key is not a usable key") from None
        body: dict[str, Any] = {"encrypted_value": sealed, "key_id": key_id}
        if self.target.organization is not None:
            body["visibility"] = self.target.visibility or "private"
        return _StagedSecret(self, body)

    def read_back(self) -> DeliveredCopy:
        sink = self.describe()
        response = self.api.call(sink, "GET", self._secret_path, missing_ok=True)
        if response.status_code == 404:
            return DeliveredCopy(present=False)
        updated = _json_object(sink, response).get("updated_at")
        return DeliveredCopy(True, {"updated_at": updated} if isinstance(updated, str) else {})


class _StagedSecret(Staged):
    def __init__(self, sink: GithubSecretSink, body: dict[str, Any]) -> None:
        self.sink, self.body = sink, body

    def commit(self) -> Receipt:
        name = self.sink.describe()
        self.sink.api.call(name, "PUT", self.sink._secret_path, self.body)
        copy = self.sink.read_back()
        if not copy.present or "updated_at" not in copy.detail:
            raise DeliveryError(name, "the secret was written but reading it back shows no copy")
        return Receipt(name, {"updated_at": copy.detail["updated_at"]})

    def discard(self) -> None:
        self.body = {}
