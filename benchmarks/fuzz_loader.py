"""Fuzzing the loader: generated hostile files, counting tracebacks, the slowest input and peak
memory.

    python benchmarks/fuzz_loader.py [COUNT]      (default 10,000 inputs; not run in CI)

Inputs come from tests/hostile.py: alias bombs, deep flow and block nesting, hidden characters in
identifiers, explicit tags, random YAML-ish text and mutations of the example file. Every input
must give a desired state or a located ConfigError; anything else is counted as a traceback.
"""

from __future__ import annotations

import sys
import time
import traceback
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from reconciler.config.loader import load_text  # noqa: E402
from reconciler.errors import ConfigError  # noqa: E402
from tests.hostile import hostile_files  # noqa: E402


def main(count: int) -> int:
    stats = {
        "inputs": 0,
        "tracebacks": 0,
        "refused": 0,
        "loaded": 0,
        "slowest": 0.0,
        "slowest_input": "",
        "peak": 0,
        "peak_input": "",
    }
    first_traceback: list[str] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile_files)
    def run(text: str) -> None:
        stats["inputs"] += 1
        tracemalloc.start()
        start = time.perf_counter()
        try:
            load_text(text, "fuzz.yaml")
            stats["loaded"] += 1
        except ConfigError:
            stats["refused"] += 1
        except Exception:  # noqa: BLE001 - what this benchmark counts
            stats["tracebacks"] += 1
            if not first_traceback:
                first_traceback.append(traceback.format_exc())
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if seconds > stats["slowest"]:
            stats["slowest"], stats["slowest_input"] = seconds, text
        if peak > stats["peak"]:
            stats["peak"], stats["peak_input"] = peak, text

    run()
    print(
        f"inputs: {stats['inputs']:,} ({stats['loaded']:,} loaded, {stats['refused']:,} refused "
        "with a located "
        f"error)"
    )
    print(f"tracebacks: {stats['tracebacks']}")
    print(
        f"slowest input: {stats['slowest'] * 1000:.1f} ms (traced), "
        f"{len(str(stats['slowest_input']))} bytes: "
        f"{str(stats['slowest_input'])[:70]!r}"
    )
    print(
        f"peak Python memory for one input: {stats['peak'] / 2**20:.1f} MiB, "
        f"{len(str(stats['peak_input']))} "
        f"bytes: {str(stats['peak_input'])[:70]!r}"
    )
    if first_traceback:
        print(first_traceback[0])
    return 1 if stats["tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
