"""`ideogram-org usage --by key` over 90 days for 1,000 keys and 10,000 members, as a user runs it.

    python benchmarks/bench_usage.py
    python benchmarks/bench_usage.py --api-version 2025-10

A `sandbox serve` process holds the organization (a generated history: busy keys, idle keys,
members on the web app); the CLI runs as its own process. Printed: the calls it made (usage calls
and all), its CPU seconds and peak RSS (from the kernel, wait4), and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = [sys.executable, "-m", "reconciler.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api-version", default="2026-06", choices=["2025-10", "2026-06"])
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as folder:
        cwd = Path(folder)
        subprocess.run(
            CLI
            + [
                "sandbox",
                "init",
                "--members",
                "10000",
                "--keys",
                "1000",
                "--state",
                "state.json",
                "--api-version",
                options.api_version,
            ],
            cwd=cwd,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            CLI + ["sandbox", "serve", "--state", "state.json", "--port", "0"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert server.stdout is not None
        env = {
            **os.environ,
            **dict(server.stdout.readline().strip().split("=", 1) for _ in range(2)),
        }
        try:
            start = time.perf_counter()
            with (cwd / "out").open("wb") as out, (cwd / "err").open("wb") as err:
                process = subprocess.Popen(
                    CLI + ["usage", "--since", "90d", "--by", "key", "--output", "json", "-v"],
                    cwd=cwd,
                    env=env,
                    stdout=out,
                    stderr=err,
                )
                _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(60)
        log = (cwd / "err").read_text()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(log[-2000:])
        report = json.loads((cwd / "out").read_text())
        calls = [line for line in log.splitlines() if " GET /manage/" in line]
        org = report["organizations"][0]
        print(
            f"usage --by key over 90 days, 1,000 keys and 10,000 members ({options.api_version}):"
        )
        print(
            f"  {report['usage_calls']} usage call(s), {len(calls)} calls in all: "
            + ", ".join(sorted({line.split(" GET ")[1].split("?")[0].split()[0] for line in calls}))
        )
        print(
            f"  {len(org['groups'])} keys with spend, {len(org['keys'])} keys listed, "
            f"{len(org['members'] or [])} members listed; total {org['total'] / 100:,.2f} "
            f"{org['currency']}"
        )
        print(
            f"  {usage.ru_utime + usage.ru_stime:.2f} s CPU, {usage.ru_maxrss / 1024:.0f} MiB "
            "peak RSS, "
            f"{wall:.2f} s wall"
        )


if __name__ == "__main__":
    main()
