"""What the git state store costs a whole command: `plan` with the local store and with the git
store, and `apply` (1% added, 1% removed) with the git store, as CLI processes against a served
sandbox, counting the git fetches and pushes each one made.

    python benchmarks/bench_state.py                 # 100,000 members
    python benchmarks/bench_state.py --members 10000

The remote is a bare repository reached by file:// (the cost measured is the tool's, not a
network's). git runs through a shim on PATH that logs each invocation, so the counts are what the
processes really ran. CPU seconds and peak RSS of the tool's process come from the kernel (git's
own children are counted in their own right: `git` CPU below).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import run, serve  # noqa: E402

SHIM = """#!/bin/sh
printf '%s\\n' "$1" >> "$GIT_SHIM_LOG"
exec {git} "$@"
"""


def git_calls(log: Path) -> Counter[str]:
    calls = Counter(log.read_text().split()) if log.exists() else Counter()
    log.unlink(missing_ok=True)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    real_git = shutil.which("git")
    assert real_git, "git is needed"
    with tempfile.TemporaryDirectory(prefix="bench-state-") as folder:
        cwd = Path(folder)
        shim_dir = cwd / "bin"
        shim_dir.mkdir()
        shim = shim_dir / "git"
        shim.write_text(SHIM.format(git=real_git))
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
        log = cwd / "git.log"
        remote = cwd / "state.git"
        subprocess.run([real_git, "init", "--quiet", "--bare", str(remote)], check=True)
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
            "GIT_SHIM_LOG": str(log),
            "XDG_CACHE_HOME": str(cwd / "cache"),
            "IDEOGRAM_ORG_LOCK_DIR": str(cwd / "locks"),
        }
        env.pop("IDEOGRAM_ENDPOINT", None)
        state = cwd / "state.json"
        members = args.members
        keys = str(max(1, members // 10))
        run("init", ["sandbox", "init", "--members", str(members), "--keys", keys,
                     "--state", str(state)], env, cwd)  # fmt: skip
        server, served = serve(state, cwd, env, 0.0)
        try:
            run("export", ["export", "-o", "exported.yaml"], served, cwd)
            subprocess.run(
                [sys.executable, str(Path(__file__).parent / "bench_e2e.py"), "--make-desired",
                 str(cwd / "exported.yaml"), str(cwd / "desired.yaml"), str(state),
                 str(members // 100)],
                check=True,
            )  # fmt: skip
            limit = ["--max-file-size", "1GiB"]
            git_env = {**served, "IDEOGRAM_ORG_STATE": f"git:file://{remote}"}
            rows = []
            for name, command, environment in (
                ("plan, local store", ["plan", "-c", "desired.yaml", *limit], served),
                ("plan, git store (empty branch)", ["plan", "-c", "desired.yaml", *limit], git_env),
                ("apply, git store", ["apply", "-c", "desired.yaml", "--auto-approve", *limit],
                 git_env),
                ("plan, git store (after the apply)", ["plan", "-c", "desired.yaml", *limit],
                 git_env),
            ):  # fmt: skip
                git_calls(log)
                sample = run(name, command, environment, cwd, ok=(0,))
                calls = git_calls(log)
                rows.append((name, sample, calls))
            dry = subprocess.run(
                [sys.executable, "-m", "reconciler.cli", "apply", "-c", "desired.yaml",
                 "--dry-run", "--output", "json", *limit],
                env=git_env, cwd=cwd, capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        commits = subprocess.run(
            [real_git, "--git-dir", str(remote), "rev-list", "--count", "ideogram-org-state"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"{members:,} members; {len(json.loads(dry.stdout)['calls'])} calls left after apply")
        print(f"{'command':36} {'CPU s':>6} {'RSS MiB':>8} {'wall s':>7} fetch push")
        for name, sample, calls in rows:
            print(
                f"{name:36} {sample.cpu:6.2f} {sample.rss_mib:8.0f} {sample.wall:7.2f} "
                f"{calls['fetch']:5} {calls['push']:4}"
            )
        print(f"commits on the state branch: {commits}")


if __name__ == "__main__":
    main()
