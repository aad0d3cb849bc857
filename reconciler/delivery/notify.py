"""Sending events to webhooks (generic JSON, or Slack's incoming-webhook format): within a bound,
retried with backoff, never raising: a notification never blocks or fails the command that
sends it. The URL is a secret (it lets anyone post): it is never shown, only its variable."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ..api.credentials import is_loopback
from ..model.events import Event

BOUND_SECONDS = 10.0  # the most all notifications of one command may take
ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.0)
UNSENT = "the time for notifications ran out"


@dataclass(frozen=True)
class Target:
    kind: str  # "webhook" or "slack"
    variable: str  # the environment variable the URL came from: what messages name
    url: str


def slack_body(event: Event) -> dict[str, object]:
    """Slack's incoming-webhook message: `text` (mrkdwn), as https://api.slack.com/messaging/webhooks
    documents it."""
    shown = "\n".join(f"• {line}" for line in event.lines[:20])
    more = f"\n… and {len(event.lines) - 20} more" if len(event.lines) > 20 else ""
    text = f"*ideogram-org {event.kind}*: {event.summary}" + (f"\n{shown}{more}" if shown else "")
    return {"text": text}


def url_problem(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return ""
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return ""
    return "not an https:// URL (plain http only to loopback)"


Batch = tuple[Target, list[Event]]


@dataclass
class _Outcome:
    """What the sending thread has done so far; read once the bound is over."""

    sent: list[tuple[Target, Event]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(
    batches: list[Batch],
    *,
    bound: float = BOUND_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> tuple[list[tuple[Target, Event]], list[str]]:
    """POST each batch's events to its target: what was delivered, and one line per failure.
    Returns within `bound` seconds, however the receivers answer: the sending runs in a thread
    of its own that is left behind (it is a daemon) when a receiver trickles its answer past
    the bound, which httpx's per-read timeouts alone would not stop."""
    outcome = _Outcome()
    worker = threading.Thread(
        target=_send_all,
        args=(batches, outcome, clock() + bound, clock, sleep, transport),
        name="ideogram-org-notify",
        daemon=True,
    )
    worker.start()
    worker.join(bound)
    with outcome.lock:
        sent, problems = list(outcome.sent), list(outcome.problems)
    if worker.is_alive():
        problems.append(f"notify: {UNSENT} ({bound:g} s); what was not confirmed may come again")
    return sent, problems


def _send_all(
    batches: list[Batch],
    outcome: _Outcome,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    transport: httpx.BaseTransport | None,
) -> None:
    with httpx.Client(transport=transport, follow_redirects=False) as client:
        for target, events in batches:
            bad = url_problem(target.url)
            if bad:
                with outcome.lock:
                    outcome.problems.append(f"notify {target.kind} (${target.variable}): {bad}")
                continue
            for event in events:
                body = slack_body(event) if target.kind == "slack" else event.model_dump()
                why = _post(client, target.url, body, deadline, clock, sleep)
                with outcome.lock:
                    if why:
                        outcome.problems.append(
                            f"notify {target.kind} (${target.variable}): {event.kind}: {why}"
                        )
                    else:
                        outcome.sent.append((target, event))


def _post(
    client: httpx.Client,
    url: str,
    body: dict[str, object],
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> str:
    """'' once the receiver took it (2xx), else why not: a 5xx, 429 or a dropped connection is
    sent again, at most ATTEMPTS times, all before the deadline."""
    why = f"not sent: {UNSENT}"
    for attempt in range(ATTEMPTS):
        left = deadline - clock()
        if left <= 0.05:
            return why
        try:
            answer = client.post(url, json=body, timeout=min(5.0, left))
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__} (no answer)"
        else:
            if 200 <= answer.status_code < 300:
                return ""
            why = f"the receiver answered {answer.status_code}"
            if answer.status_code < 500 and answer.status_code != 429:
                return why
        if attempt + 1 < ATTEMPTS:
            pause = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            if clock() + pause >= deadline:
                return why
            sleep(pause)
    return why
