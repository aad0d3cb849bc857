"""Apply figures, over real HTTP on loopback against the sandbox.

    python benchmarks/bench_apply.py

1. 1,000 member additions in one organization, chunk size 100: how many member calls.
2. 200 key deactivations with 100 ms of sandbox latency per call and an inflight limit of 10:
   how long the deactivations take (and the whole apply, reads and verification included).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from reconciler import service
from reconciler.api.client import ApiClient
from reconciler.config.loader import load_config
from reconciler.execution.report import ApplyReport
from reconciler.sandbox import Faults, Sandbox, SandboxServer, generate_state


def _serve(state, faults=None):
    sandbox = Sandbox(state, faults)
    server = SandboxServer(sandbox)
    server.start_in_thread()
    return sandbox, server


def additions(workdir: Path) -> None:
    state = generate_state(members=2, keys=0, seed=1, org_name="acme", outsiders=1000)
    org = next(iter(state.organizations.values()))
    lines = ["version: 1", "organizations:", "  acme:", f"    id: {org.organization_id}", "    members:"]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in org.members]
    lines += [f"      - email: {u.email_address}" for uid, u in state.users.items() if uid not in org.members]
    path = workdir / "adds.yaml"
    path.write_text("\n".join(lines) + "\n")
    sandbox, server = _serve(state)
    try:
        with ApiClient(server.url, state.token) as client:
            planned = service.plan(client, load_config(path))
            start = time.perf_counter()
            report = service.apply(client, planned, service.ApplyOptions(
                audit_log=workdir / "a.jsonl", chunk_size=100, verify=False))
            seconds = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    member_calls = sum(1 for w in sandbox.write_requests if w.operation.endswith("_members"))
    assert isinstance(report, ApplyReport)
    print(f"1,000 additions: {report.counts()['applied']} applied in {member_calls} member call(s) "
          f"at chunk size 100, {seconds:.2f} s")


def deactivations(workdir: Path) -> None:
    state = generate_state(members=2, keys=200, seed=2, org_name="acme", inflight_limit=10)
    org = next(iter(state.organizations.values()))
    for key in org.api_keys.values():
        key.status = "ACTIVE"
    lines = ["version: 1", "policy: {max_key_deactivations: 100%}", "organizations:", "  acme:", f"    id: {org.organization_id}", "    members:"]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in org.members]
    lines.append("    api_keys:")
    lines += [f"      k{i}: {{id: {key_id}, status: DISABLED}}" for i, key_id in enumerate(org.api_keys)]
    path = workdir / "keys.yaml"
    path.write_text("\n".join(lines) + "\n")
    sandbox, server = _serve(state, Faults(latency=0.1))
    try:
        with ApiClient(server.url, state.token) as client:
            total_start = time.perf_counter()
            planned = service.plan(client, load_config(path))
            start = time.perf_counter()
            report = service.apply(client, planned, service.ApplyOptions(audit_log=workdir / "k.jsonl",
                                                                         verify=False))
            deactivation_seconds = time.perf_counter() - start
            remaining = service.plan(client, load_config(path)).plan.changes
            total_seconds = time.perf_counter() - total_start
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(report, ApplyReport)
    print(f"200 deactivations at 100 ms latency, inflight limit 10: {report.counts()['applied']} applied in "
          f"{deactivation_seconds:.2f} s (peak {sandbox.peak_inflight} requests in flight); "
          f"{total_seconds:.2f} s with the plan's reads and the verification read; {len(remaining)} left")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        additions(Path(directory))
        deactivations(Path(directory))
