"""What may be sent where: the endpoint (https, or plain http to loopback only) and the token.

Both are checked before any request, with messages that never repeat a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
from urllib.parse import urlsplit

import httpx

from ..defaults import TOKEN_ENV
from ..errors import InsecureEndpointError, UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> str:
    """https anywhere; plain http only to loopback, where the token cannot be sniffed.

    Anything httpx would choke on later is refused here, in one line; a password in the URL is
    refused without being repeated.
    """
    if any(char.isspace() or not char.isprintable() for char in endpoint):
        raise UsageError(
            "the endpoint holds whitespace or a control character; give a plain URL such as "
            "https://api.ideogram.ai"
        )
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        httpx.URL(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except (ValueError, UnicodeError, httpx.InvalidURL):
        raise UsageError(
            "the endpoint is not a valid URL; give one such as https://api.ideogram.ai"
        ) from None
    if host and (len(host) > 253 or any(len(label) > 63 for label in host.split("."))):
        raise UsageError("the endpoint's host name is longer than DNS allows (253 characters)")
    if parts.query or parts.fragment:
        # a base URL has neither; a credential put there would be repeated in every message
        raise UsageError(
            "the endpoint is a base URL such as https://api.ideogram.ai: no query (?...) or "
            f"fragment (#...); credentials go only in {TOKEN_ENV}"
        )
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"endpoint {endpoint!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"the endpoint holds a user name or password ({parts.scheme}://…@{host}); credentials "
            "go "
            f"only in {TOKEN_ENV}"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise InsecureEndpointError(
            f"refusing plain http:// to {host}: the token would travel unencrypted; use https:// "
            f"(http:// is allowed only for loopback addresses)"
        )
    return endpoint.rstrip("/")


_TOKEN = re.compile(r"[\x21-\x7e]+")


def check_token(token: str) -> str:
    """A bearer token is printable ASCII without spaces; anything else would break the header, or be
    echoed by an error that quotes it. The message never repeats the value."""
    if not _TOKEN.fullmatch(token):
        raise UsageError(
            f"{TOKEN_ENV} is not a usable token: it must be printable ASCII with no spaces or line "
            f"breaks (its value is not shown)"
        )
    return token


def token_from_environment() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UsageError(
            f"no API token: set {TOKEN_ENV} in the environment (tokens are never taken as flags)"
        )
    return check_token(token)
