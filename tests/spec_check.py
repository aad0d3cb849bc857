"""Validate sandbox responses against the official OpenAPI documents (tests/data/spec/)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from ruamel.yaml import YAML
from werkzeug.datastructures import Headers, ImmutableMultiDict

COPIES = Path(__file__).resolve().parent / "data" / "spec"


def _spec_dir() -> Path:
    """The official documents: $IDEOGRAM_SPEC_DIR, else the copies the project carries."""
    candidates = (
        [Path(os.environ["IDEOGRAM_SPEC_DIR"])] if os.environ.get("IDEOGRAM_SPEC_DIR") else []
    )
    candidates.append(COPIES)
    for candidate in candidates:
        if (candidate / "ideogram-openapi-2025-10.yaml").exists():
            return candidate
    raise FileNotFoundError(
        f"the official OpenAPI documents are not in {' or '.join(map(str, candidates))}; "
        f"set IDEOGRAM_SPEC_DIR"
    )


SPEC_DIR = _spec_dir()
SPEC_FILES = {
    "2025-10": SPEC_DIR / "ideogram-openapi-2025-10.yaml",
    "2026-06": SPEC_DIR / "ideogram-openapi-2026-06.json",
}
# Statuses the spec cannot list because they come from the transport, not the operation: the
# sandbox's injected faults and its inflight limit. Every other response must match the spec.
TRANSPORT_STATUSES = {429, 500, 502, 503}
# The sandbox's answer to a method a path does not take; the spec has nothing to say about it.
ROUTING_STATUSES = {405}


@functools.cache
def spec_dict(version: str) -> dict:
    path = SPEC_FILES[version]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return YAML(typ="safe").load(path.read_text())


@functools.cache
def openapi(version: str) -> OpenAPI:
    spec = dict(spec_dict(version))
    spec["servers"] = [{"url": "/"}]  # the documents carry an empty server URL
    return OpenAPI.from_dict(spec)


class _Request:
    def __init__(self, request: httpx.Request):
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode())),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    host_url = property(
        lambda self: f"{self._request.url.scheme}://{self._request.url.netloc.decode()}"
    )
    path = property(lambda self: self._request.url.path)
    method = property(lambda self: self._request.method.lower())
    body = property(lambda self: self._request.content or None)
    content_type = property(lambda self: self._request.headers.get("content-type", ""))


class _Response:
    def __init__(self, response: httpx.Response):
        self._response = response

    data = property(lambda self: self._response.content)
    status_code = property(lambda self: self._response.status_code)
    content_type = property(lambda self: self._response.headers.get("content-type", ""))
    headers = property(lambda self: Headers(dict(self._response.headers)))


class SpecChecker:
    """An observer for SandboxTransport / an httpx response hook: raises on any deviation."""

    def __init__(self, version: str):
        self.version = version
        self.checked = 0

    def __call__(self, request: httpx.Request, response: httpx.Response) -> None:
        response.read()
        if response.status_code in TRANSPORT_STATUSES | ROUTING_STATUSES:
            return
        if request.url.path not in spec_dict(self.version)["paths"]:
            # an operation this version lacks: the only faithful answer is 404
            assert response.status_code == 404, f"{request.url.path} is not in {self.version}"
            self.checked += 1
            return
        openapi(self.version).validate_response(_Request(request), _Response(response))
        self.checked += 1

    def hook(self, response: httpx.Response) -> None:
        self(response.request, response)


def check_sandbox_exchange(
    version: str,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    status: int,
    response_headers: dict[str, str],
    content: bytes,
) -> None:
    """Validate one exchange seen inside the sandbox, whichever way it was served. An exchange
    already found valid (same version, call, status and bytes) is not validated again: seeded
    sandboxes answer the same usage history to many tests."""
    seen = (
        version,
        method,
        path,
        tuple(sorted(query.items())),
        status,
        hashlib.sha256(content).digest(),
    )
    if seen in _VALID:
        return
    request = httpx.Request(
        method, f"http://sandbox.test{path}", params=query, headers=headers, content=body
    )
    response = httpx.Response(status, headers=response_headers, content=content, request=request)
    SpecChecker(version)(request, response)
    if len(_VALID) < 100_000:
        _VALID.add(seen)


_VALID: set[tuple[object, ...]] = set()  # exchanges already found to follow the spec
