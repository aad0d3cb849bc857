"""Deterministic fault injection for the sandbox: the failures a real API has on a bad day."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What can go wrong, with rates in [0, 1]. `operations` limits which operations misbehave."""

    seed: int = 0
    latency: float = 0.0  # seconds added to every response
    error_rate: float = 0.0  # answer 500/502/503 before doing anything
    error_statuses: tuple[int, ...] = (500, 502, 503)
    rate_limit_rate: float = 0.0  # start a burst of 429s
    rate_limit_burst: int = 1  # how many requests in a row a burst refuses
    retry_after: float = 1.0  # the Retry-After those 429s carry, in seconds
    slow_rate: float = 0.0  # do the work, then answer after `slow_seconds` (past a client timeout)
    slow_seconds: float = 30.0
    drop_rate: float = 0.0  # do the work, then close the connection without answering
    member_failure_rate: float = 0.0  # share of members that fail every member call naming them
    operations: frozenset[str] | None = None  # operation ids (api.endpoints); None: every operation
    # A script instead of chance: per operation, what its 1st, 2nd, ... call does ("ok", "drop",
    # "slow", "error", "rate_limit"); calls past the end of a script behave. Rates still apply
    # to operations without a script.
    script: dict[str, tuple[str, ...]] = field(default_factory=dict)

    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _burst_left: int = field(init=False, default=0)
    _calls: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        for name in (
            "error_rate",
            "rate_limit_rate",
            "slow_rate",
            "drop_rate",
            "member_failure_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")

    def _applies(self, operation: str) -> bool:
        return self.operations is None or operation in self.operations

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def _scripted(self, operation: str) -> Decision | None:
        steps = self.script.get(operation)
        if steps is None:
            return None
        index = self._calls.get(operation, 0)
        self._calls[operation] = index + 1
        step = steps[index] if index < len(steps) else "ok"
        scripted = {
            "ok": Decision(latency=self.latency),
            "drop": Decision(latency=self.latency, drop=True),
            "slow": Decision(latency=self.latency, slow=self.slow_seconds),
            "error": Decision(latency=self.latency, error_status=self.error_statuses[0]),
            "rate_limit": Decision(
                latency=self.latency, rate_limited=True, retry_after=self.retry_after
            ),
        }
        if step not in scripted:
            raise ValueError(f"unknown scripted fault {step!r} for {operation}")
        return scripted[step]

    def decide(self, operation: str) -> Decision:
        with self._lock:
            scripted = self._scripted(operation)
            if scripted is not None:
                return scripted
            if not self._applies(operation):
                return Decision(latency=self.latency)
            if self._burst_left > 0:
                self._burst_left -= 1
                return Decision(
                    latency=self.latency, rate_limited=True, retry_after=self.retry_after
                )
            if self._roll(self.rate_limit_rate):
                self._burst_left = max(0, self.rate_limit_burst - 1)
                return Decision(
                    latency=self.latency, rate_limited=True, retry_after=self.retry_after
                )
            if self._roll(self.error_rate):
                return Decision(
                    latency=self.latency, error_status=self._rng.choice(self.error_statuses)
                )
            return Decision(
                latency=self.latency,
                slow=self.slow_seconds if self._roll(self.slow_rate) else 0.0,
                drop=self._roll(self.drop_rate),
            )

    def member_fails(self, operation: str, member: str) -> bool:
        """Whether this member fails in this operation. Decided once per member for these Faults (a
        member
        that fails keeps failing, as one the server rejects on its own would); a new seed decides
        anew."""
        if not self._applies(operation) or self.member_failure_rate <= 0:
            return False
        return (
            random.Random(f"{self.seed}:{operation}:{member}").random() < self.member_failure_rate
        )


@dataclass(frozen=True)
class Decision:
    latency: float = 0.0
    rate_limited: bool = False
    retry_after: float = 0.0
    error_status: int | None = None
    slow: float = 0.0
    drop: bool = False
