"""Real git remotes for the state store's tests: a bare repository reached by file://, or served
on loopback by `git daemon` (the git:// protocol, pushes enabled), and a 'machine': its own
working directory, HOME, cache and lock folder, as a separate runner or laptop has."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def bare_repository(folder: Path, name: str = "state.git") -> Path:
    path = folder / name
    git("init", "--quiet", "--bare", str(path))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` serving every repository under `base` on loopback, pushes allowed: yields
    the URL prefix (git://127.0.0.1:PORT/)."""
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.02)
        yield f"git://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Machine:
    """One runner or laptop: its own folder (holding the file), HOME, cache and lock folder."""

    root: Path

    def __post_init__(self) -> None:
        for sub in ("work", "home", "cache", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def work(self) -> Path:
        return self.root / "work"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("IDEOGRAM", "XDG_", "GITHUB_"))
        }
        env.update(
            {
                "HOME": str(self.root / "home"),
                "XDG_CACHE_HOME": str(self.root / "cache"),
                "IDEOGRAM_ORG_LOCK_DIR": str(self.root / "locks"),
                "NO_COLOR": "1",
                **GIT_ENV,
                **extra,
            }
        )
        return env
