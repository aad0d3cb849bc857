"""A hostile server cannot exhaust memory, hold the client past --timeout, or crash it.

The client runs in its own process against tests/hostile_server.py on loopback, so its peak
memory (the kernel's count) is its own. How long each refusal takes is measured by
benchmarks/bench_hostile.py; here only what a user would notice is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.hostile_server import hostile_server

PEAK_LIMIT_MIB = 200
CLIENT = """
import json, sys
from reconciler.api.client import ApiReader, RetryPolicy
from reconciler.errors import ReconcilerError
reader = ApiReader(sys.argv[1], "token", timeout=float(sys.argv[2]), retry=RetryPolicy(attempts=1))
try:
    reader.get_profiles()
    outcome = "answered"
except ReconcilerError as exc:
    outcome = f"{type(exc).__name__}: {exc}"
# VmHWM: this process's own peak (ru_maxrss would count the forked parent's pages before exec)
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"outcome": outcome, "peak_mib": peak}))
"""


def _client(url: str, timeout: float = 5.0) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, url, str(timeout)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("bomb", "grew past the limit of 67,108,864 bytes"),
        ("huge", "is 2,000,000,000 bytes, over the limit"),
        ("endless", "grew past the limit of 67,108,864 bytes"),
    ],
)
def test_an_answer_too_large_is_refused_in_bounded_memory(kind: str, says: str) -> None:
    with hostile_server(kind) as url:
        found = _client(url)
    assert says in str(found["outcome"]) and "--max-response-size" in str(found["outcome"])
    assert float(str(found["peak_mib"])) < PEAK_LIMIT_MIB, found


def test_an_answer_that_drips_is_bounded_by_the_timeout() -> None:
    with hostile_server("drip") as url:
        found = _client(url, timeout=2.0)
    assert "took longer than --timeout" in str(found["outcome"]), found


def test_deeply_nested_json_in_an_error_is_one_line_not_a_traceback() -> None:
    with hostile_server("deep") as url:
        found = _client(url)
    assert str(found["outcome"]).startswith("ServerError: "), found
    assert len(str(found["outcome"])) < 400
