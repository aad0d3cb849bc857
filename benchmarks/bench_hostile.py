"""The red-team figures of a hostile server, measured: each answer refused, how long it took and
the client's peak memory (the kernel's count, in a process of its own).

    .venv/bin/python benchmarks/bench_hostile.py

Goals (issue 20): the gzip bomb and a 2 GB body refused under 200 MiB; an answer that drips one
byte a second bounded by --timeout within 2 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_server import hostile_server  # noqa: E402
from tests.test_hostile_server import CLIENT  # noqa: E402


def main() -> int:
    print(f"{'answer':<10} {'timeout':>7} {'seconds':>8} {'peak MiB':>9}  outcome")
    for kind, timeout in (
        ("bomb", 30.0),
        ("huge", 30.0),
        ("endless", 30.0),
        ("drip", 5.0),
        ("deep", 30.0),
    ):
        with hostile_server(kind) as url:
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", CLIENT, url, str(timeout)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
            took = time.monotonic() - started
        found = json.loads(done.stdout)
        print(
            f"{kind:<10} {timeout:>7g} {took:>8.2f} {found['peak_mib']:>9.0f}  "
            f"{str(found['outcome'])[:70]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
