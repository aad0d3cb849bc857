"""Where `--sandbox` keeps its state: `.ideogram-sandbox.json` in the working directory."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from ..errors import UsageError
from .demo import demo_state
from .state import SandboxState
from .usage import spike

DEFAULT_SANDBOX_STATE = ".ideogram-sandbox.json"


def load_or_create_sandbox_state(path: str | Path = DEFAULT_SANDBOX_STATE) -> SandboxState:
    """The saved sandbox, or the built-in demo organization on first use (and saved there)."""
    path = Path(path)
    if not path.exists():
        state = demo_state()
        state.save(path)
        return state
    try:
        return SandboxState.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path}: not a sandbox state file ({exc}); delete it to start again"
        ) from None


def add_spike(
    state: SandboxState, key_id: str, factor: float, hours: int, now: datetime | None = None
) -> str:
    """Make one key spend `factor` times its usual in each of the last `hours` hours (on the
    sandbox's clock): what `watch` must notice. Returns the organization's name."""
    moment = (now or datetime.now(timezone.utc)) + timedelta(seconds=state.clock_offset)
    for org in state.organizations.values():
        if key_id in org.api_keys:
            anchor = date.fromisoformat(state.usage_anchor) if state.usage_anchor else moment.date()
            org.usage.append(spike(org.usage, anchor, key_id, factor, hours, moment))
            return org.name
    raise UsageError(f"no organization of the sandbox has a key {key_id!r}")
