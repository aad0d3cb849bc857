"""A fake of the GitHub REST API's Actions secrets endpoints, served over loopback HTTP, from
GitHub's documented contract (docs.github.com/rest/actions/secrets): GitHub's API cannot run here.

Repository, environment and organization scope: `GET .../secrets/public-key` gives a libsodium
public key; `PUT .../secrets/NAME` takes `{encrypted_value, key_id}` (and `visibility` for an
organization) and answers 201 (created) or 204 (updated); `GET .../secrets/NAME` gives
`{name, created_at, updated_at}`, never the value. It holds each scope's private key, so it opens
every sealed box it is sent: the tests compare what it decrypted with the secret the Ideogram
sandbox issued. Requests need `Authorization: Bearer TOKEN`; scopes in `forbidden` answer 403
(and in `forbidden_puts`, their PUTs only: a token that may read a public key, not write).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nacl.public import PrivateKey, SealedBox

TOKEN = "github_pat_fake_secrets_writer"
_SCOPE = re.compile(
    r"^(?P<scope>/repos/[^/]+/[^/]+/actions/secrets|/repos/[^/]+/[^/]+/environments/[^/]+/secrets"
    r"|/orgs/[^/]+/actions/secrets)/(?P<rest>public-key|[A-Za-z0-9_]+)$"
)


@dataclass
class StoredSecret:
    value: str  # what the sealed box held
    created_at: str
    updated_at: str
    visibility: str | None = None


@dataclass
class FakeGitHub:
    repositories: set[str] = field(default_factory=lambda: {"acme/app"})
    organizations: set[str] = field(default_factory=lambda: {"acme"})
    forbidden: set[str] = field(default_factory=set)  # scope paths answered 403
    forbidden_puts: set[str] = field(default_factory=set)  # scopes whose PUTs are answered 403
    failing_puts: int = 0  # the next this many PUTs are answered 502 (GitHub has bad minutes)
    secrets: dict[str, StoredSecret] = field(default_factory=dict)  # scope/NAME -> secret
    keys: dict[str, PrivateKey] = field(default_factory=dict)  # scope -> its private key
    puts: list[str] = field(default_factory=list)  # scope/NAME of each accepted PUT
    clock_offset: timedelta = timedelta()
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> str:
        moment = datetime.now(timezone.utc) + self.clock_offset
        return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def exists(self, scope: str) -> bool:
        parts = scope.split("/")
        if parts[1] == "orgs":
            return parts[2] in self.organizations
        return f"{parts[2]}/{parts[3]}" in self.repositories

    def private_key(self, scope: str) -> PrivateKey:
        if scope not in self.keys:
            self.keys[scope] = PrivateKey.generate()
        return self.keys[scope]

    def key_id(self, scope: str) -> str:
        return hashlib.sha256(bytes(self.private_key(scope).public_key)).hexdigest()[:18]

    def value(self, path: str) -> str:
        """The plaintext of the secret at `scope/NAME`."""
        return self.secrets[path].value

    def set_by_hand(self, path: str, value: str, later: timedelta = timedelta(minutes=5)) -> None:
        """Someone updates the secret in GitHub's settings page."""
        with self.lock:
            self.clock_offset += later
            self.secrets[path].value = value
            self.secrets[path].updated_at = self.now()


class _Handler(BaseHTTPRequestHandler):
    world: FakeGitHub

    def log_message(self, *args: object) -> None:
        return

    def _answer(self, status: int, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> tuple[str, str] | None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"message": "Bad credentials"})
            return None
        found = _SCOPE.match(self.path)
        if found is None or not self.world.exists(found["scope"]):
            self._answer(404, {"message": "Not Found"})
            return None
        if found["scope"] in self.world.forbidden:
            self._answer(403, {"message": "Resource not accessible by integration"})
            return None
        return found["scope"], found["rest"]

    def do_GET(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        scope, rest = route
        with self.world.lock:
            if rest == "public-key":
                key = self.world.private_key(scope).public_key
                self._answer(
                    200,
                    {
                        "key_id": self.world.key_id(scope),
                        "key": base64.b64encode(bytes(key)).decode(),
                    },
                )
                return
            stored = self.world.secrets.get(f"{scope}/{rest}")
            if stored is None:
                self._answer(404, {"message": "Not Found"})
                return
            body = {
                "name": rest,
                "created_at": stored.created_at,
                "updated_at": stored.updated_at,
            }
            if stored.visibility:
                body["visibility"] = stored.visibility
            self._answer(200, body)

    def do_PUT(self) -> None:  # noqa: N802
        route = self._route()
        if route is None:
            return
        scope, name = route
        if scope in self.world.forbidden_puts:
            self._answer(403, {"message": "Resource not accessible by integration"})
            return
        with self.world.lock:
            failing, self.world.failing_puts = (
                self.world.failing_puts,
                max(0, self.world.failing_puts - 1),
            )
        if failing:
            self._answer(502, {"message": "Server Error"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            sealed = base64.b64decode(body["encrypted_value"], validate=True)
            with self.world.lock:
                if body["key_id"] != self.world.key_id(scope):
                    raise ValueError("key_id")
                value = SealedBox(self.world.private_key(scope)).decrypt(sealed).decode()
        except Exception:  # noqa: BLE001 - any bad body is GitHub's 422
            self._answer(422, {"message": "Bad request: encrypted_value or key_id"})
            return
        with self.world.lock:
            path = f"{scope}/{name}"
            now = self.world.now()
            old = self.world.secrets.get(path)
            self.world.secrets[path] = StoredSecret(
                value, old.created_at if old else now, now, body.get("visibility")
            )
            self.world.puts.append(path)
        self._answer(204 if old else 201, None if old else {})


@contextlib.contextmanager
def fake_github(world: FakeGitHub | None = None) -> Iterator[tuple[FakeGitHub, str]]:
    """The fake, serving on 127.0.0.1: (its state, its base URL)."""
    world = world or FakeGitHub()
    handler = type("Handler", (_Handler,), {"world": world})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield world, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
