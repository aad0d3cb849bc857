"""Where `--sandbox` keeps its state: `.ideogram-sandbox.json` in the working directory."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .demo import demo_state
from .state import SandboxState

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
