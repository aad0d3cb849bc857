"""Which state store a command uses: the file's `state:`, overridden by IDEOGRAM_ORG_STATE (or
the Action's `state` input), else the local files of old."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from ..config.loader import LoadedConfig, bind_keys
from ..config.models import StateConfig, duration_seconds
from ..defaults import STATE_BRANCH, STATE_ENV
from ..errors import UsageError
from ..store.audit import current_actor
from ..store.git_state import GitStore, resolve_url
from ..store.local import LocalStore
from ..store.state import Snapshot, StateStore


def parse_override(text: str) -> StateConfig:
    """`local`, `git`, `git:URL` or `git:URL#BRANCH` as a state configuration."""
    text = text.strip()
    if text == "local":
        return StateConfig(backend="local")
    if text == "git":
        return StateConfig(backend="git")
    if text.startswith("git:") and len(text) > 4:
        url, _, branch = text[4:].partition("#")
        try:
            return StateConfig(backend="git", url=url, branch=branch or STATE_BRANCH)
        except ValueError:
            pass
    raise UsageError(f"{STATE_ENV}={text!r}: give local, git, git:URL or git:URL#BRANCH")


def state_config(
    config: LoadedConfig | None, override: str | None = None, env: Mapping[str, str] | None = None
) -> StateConfig:
    chosen = override if override else (env if env is not None else os.environ).get(STATE_ENV)
    if chosen:
        configured = parse_override(chosen)
        kept = config.desired.state if config else None
        if configured.backend == "git" and kept is not None and kept.backend == "git":
            # the override names the backend (and maybe a URL); the file's lease still holds
            return configured.model_copy(update={"lease": kept.lease})
        return configured
    if config is not None and config.desired.state is not None:
        return config.desired.state
    return StateConfig()


def open_store(
    config: LoadedConfig | None,
    audit_log: str | Path,
    override: str | None = None,
    lease: timedelta | None = None,
) -> StateStore:
    """The store for this file. `audit_log` is the local backend's log; a git store's url
    `origin` is the origin of the repository holding the file."""
    chosen = state_config(config, override)
    if chosen.backend == "local":
        return LocalStore(audit_log)
    folder = config.path.resolve().parent if config is not None else Path.cwd()
    return GitStore(
        resolve_url(chosen.url, folder),
        chosen.branch,
        lease or timedelta(seconds=duration_seconds(chosen.lease)),
        actor=current_actor(),
    )


def bound(config: LoadedConfig, snapshot: Snapshot) -> LoadedConfig:
    """The file with the keys the store binds (and keys a killed run made but never bound)."""
    if not snapshot.binds_keys:
        return config
    pending = snapshot.pending
    bindings = {key: b.api_key_id for key, b in pending.bindings.items()}
    for key_id, (organization, label) in pending.unbound_keys.items():
        bindings[(organization, label)] = key_id
    return bind_keys(config, bindings, snapshot.where)
