"""The steps in order, for commands and tests alike: load -> read live -> diff."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .client import ApiReader
from .live import LiveState, read_live_state
from .loader import LoadedConfig, load_config
from .plan import Plan
from .planner import compute_plan


@dataclass(frozen=True)
class Planned:
    config: LoadedConfig
    live: LiveState
    plan: Plan


def plan_from_file(reader: ApiReader, config_path: str, only: Iterable[str] = (),
                   api_version: str = "auto") -> Planned:
    config = load_config(config_path)  # the file is checked before any call goes out
    live = read_live_state(reader, config.desired, only, api_version)
    plan = compute_plan(config.desired, live, desired_file=str(config.path), desired_hash=config.sha256)
    return Planned(config=config, live=live, plan=plan.model_copy(update={"live_snapshot": live.snapshot()}))
