"""Apply figures, over real HTTP on loopback against the sandbox.

    python benchmarks/bench_apply.py

1. 1,000 member additions in one organization, chunk size 100: how many member calls.
2. 200 key deactivations with 100 ms of sandbox latency per call and an inflight limit of 10:
   how long the deactivations take (and the whole apply, reads and verification included).
3. The cost of write-ahead records: the 1,000-addition apply (chunk size 10, so 100 calls) with
   and without the intent record before each call (median of 3).
4. 2025-10 with 10% of members failing on their own: one apply of 1,000 additions; the calls it
   took (bisection) and what remains.
5. The write phase at scale: 100,000 members and 10,000 keys at 50 ms latency per answer; 5,000
   additions, 5,000 removals and 200 key deactivations (300 calls at chunk size 100). The floor
   is latency x calls / inflight limit = 1.5 s; the figure is from the first write to the last.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler import service
from reconciler.api.client import ApiClient
from reconciler.config.loader import load_config
from reconciler.model.report import ApplyReport
from reconciler.sandbox import (
    SANDBOX_BASE_URL,
    Faults,
    Sandbox,
    SandboxServer,
    SandboxTransport,
    generate_state,
)


def _serve(state, faults=None):
    sandbox = Sandbox(state, faults)
    server = SandboxServer(sandbox)
    server.start_in_thread()
    return sandbox, server


def additions(workdir: Path) -> None:
    state = generate_state(members=2, keys=0, seed=1, org_name="acme", outsiders=1000)
    path = _additions_file(workdir, state)
    sandbox, server = _serve(state)
    try:
        with ApiClient(server.url, state.token) as client:
            planned = service.plan(client, load_config(path))
            start = time.perf_counter()
            report = service.apply(
                client,
                planned,
                service.ApplyOptions(audit_log=workdir / "a.jsonl", chunk_size=100, verify=False),
            )
            seconds = time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()
    member_calls = sum(1 for w in sandbox.write_requests if w.operation.endswith("_members"))
    assert isinstance(report, ApplyReport)
    print(
        f"1,000 additions: {report.counts()['applied']} applied in {member_calls} member call(s) "
        f"at chunk size 100, {seconds:.2f} s"
    )


def deactivations(workdir: Path) -> None:
    state = generate_state(members=2, keys=200, seed=2, org_name="acme", inflight_limit=10)
    org = next(iter(state.organizations.values()))
    for key in org.api_keys.values():
        key.status = "ACTIVE"
    lines = [
        "version: 1",
        "policy: {max_key_deactivations: 100%}",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in org.members]
    lines.append("    api_keys:")
    lines += [
        f"      k{i}: {{id: {key_id}, status: DISABLED}}" for i, key_id in enumerate(org.api_keys)
    ]
    path = workdir / "keys.yaml"
    path.write_text("\n".join(lines) + "\n")
    sandbox, server = _serve(state, Faults(latency=0.1))
    try:
        with ApiClient(server.url, state.token) as client:
            total_start = time.perf_counter()
            planned = service.plan(client, load_config(path))
            start = time.perf_counter()
            report = service.apply(
                client, planned, service.ApplyOptions(audit_log=workdir / "k.jsonl", verify=False)
            )
            deactivation_seconds = time.perf_counter() - start
            remaining = service.plan(client, load_config(path)).plan.changes
            total_seconds = time.perf_counter() - total_start
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(report, ApplyReport)
    print(
        f"200 deactivations at 100 ms latency, inflight limit 10: {report.counts()['applied']} "
        "applied in "
        f"{deactivation_seconds:.2f} s (peak {sandbox.peak_inflight} requests in flight); "
        f"{total_seconds:.2f} s with the plan's reads and the verification read; {len(remaining)} "
        "left"
    )


def _additions_file(workdir: Path, state) -> Path:
    org = next(iter(state.organizations.values()))
    lines = [
        "version: 1",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in org.members]
    lines += [
        f"      - email: {u.email_address}"
        for uid, u in state.users.items()
        if uid not in org.members
    ]
    path = workdir / "adds.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _timed_additions(workdir: Path, with_intents: bool) -> float:
    from reconciler.store.audit import AuditLog

    state = generate_state(members=2, keys=0, seed=1, org_name="acme", outsiders=1000)
    path = _additions_file(workdir, state)
    original = AuditLog.append

    def no_intents(self, event, **fields):
        return {"hash": ""} if event == "write.intent" else original(self, event, **fields)

    audit = workdir / f"wal-{with_intents}-{time.monotonic_ns()}.jsonl"
    try:
        if not with_intents:
            AuditLog.append = no_intents
        # in-process, so that the figure is the records' cost, not the network's
        with ApiClient(
            SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state))
        ) as client:
            planned = service.plan(client, load_config(path))
            start = time.perf_counter()
            service.apply(
                client, planned, service.ApplyOptions(audit_log=audit, chunk_size=10, verify=False)
            )
            return time.perf_counter() - start
    finally:
        AuditLog.append = original


def write_ahead_cost(workdir: Path) -> None:
    import statistics

    with_intents = statistics.median(_timed_additions(workdir, True) for _ in range(3))
    without = statistics.median(_timed_additions(workdir, False) for _ in range(3))
    print(
        f"write-ahead records, 1,000 additions in 100 calls: {with_intents:.2f} s with intents, "
        f"{without:.2f} s "
        f"without ({(with_intents - without) / 100 * 1000:+.1f} ms per call)"
    )


def bisection_2025(workdir: Path) -> None:
    state = generate_state(
        members=2, keys=0, seed=3, api_version="2025-10", org_name="acme", outsiders=1000
    )
    path = _additions_file(workdir, state)
    sandbox, server = _serve(
        state,
        Faults(
            seed=11, member_failure_rate=0.1, operations=frozenset({"add_organization_members"})
        ),
    )
    try:
        with ApiClient(server.url, state.token) as client:
            planned = service.plan(client, load_config(path))
            report = service.apply(
                client, planned, service.ApplyOptions(audit_log=workdir / "b.jsonl", verify=False)
            )
            sandbox.faults = Faults()
            remaining = len(service.plan(client, load_config(path)).plan.changes)
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(report, ApplyReport)
    calls = sum(1 for w in sandbox.write_requests if w.operation == "add_organization_members")
    failed = report.counts()["failed"]
    print(
        f"2025-10, 1,000 additions, 10% of members failing: {calls} add calls in one apply; "
        f"{failed} failed on "
        f"their own, {remaining} change(s) remain"
    )


def write_phase_at_scale(workdir: Path) -> None:
    state = generate_state(members=100_000, keys=10_000, seed=6, org_name="acme", inflight_limit=10)
    org = next(iter(state.organizations.values()))
    uids = list(org.members)
    outsiders = [u for uid, u in state.users.items() if uid not in org.members][:5000]
    active = [key_id for key_id, key in org.api_keys.items() if key.status == "ACTIVE"]
    lines = [
        "version: 1",
        "policy: {max_removals: 10%}",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
    ]
    lines += [f"      - user_id: {uid}\n        role: OWNER" for uid in uids[:2]]
    lines += [f"      - user_id: {uid}" for uid in uids[5002:]]
    lines += [f"      - email: {u.email_address}" for u in outsiders]
    lines.append("    api_keys:")
    lines += [
        f"      {key_id}: {{id: {key_id}, status: "
        f"{'DISABLED' if key_id in active[:200] else key.status}}}"
        for key_id, key in org.api_keys.items()
    ]
    path = workdir / "scale.yaml"
    path.write_text("\n".join(lines) + "\n")
    state.save(workdir / "scale-state.json")
    # The sandbox in its own process, as `sandbox serve` runs: its CPU is the server's, not the
    # tool's.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.cli",
            "sandbox",
            "serve",
            "--state",
            str(workdir / "scale-state.json"),
            "--port",
            "0",
            "--latency",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip().split("=", 1)[1]
    starts: list[float] = []
    try:
        with ApiClient(url, state.token) as client:
            planned = service.plan(client, load_config(path))
            options = service.ApplyOptions(
                audit_log=workdir / "scale.jsonl",
                verify=False,
                on_call=lambda _done, _total, _what: starts.append(time.perf_counter()),
            )
            cpu = time.process_time()
            report = service.apply(client, planned, options)
            end, cpu = time.perf_counter(), time.process_time() - cpu
    finally:
        server.terminate()
        server.wait(60)
    assert isinstance(report, ApplyReport)
    floor = 0.05 * report.write_calls / 10
    seconds = end - min(starts)
    print(
        "100,000 members at 50 ms latency (sandbox serve in its own process): "
        f"{report.counts()['applied']} "
        f"changes in {report.write_calls} write calls; write phase {seconds:.2f} s against a "
        "floor of "
        f"{floor:.2f} s ({seconds / floor:.2f}x); the tool's CPU in apply (the read under the "
        "lock included): "
        f"{cpu:.2f} s"
    )


if __name__ == "__main__":
    if "--scale-only" in sys.argv:
        with tempfile.TemporaryDirectory() as directory:
            write_phase_at_scale(Path(directory))
        raise SystemExit
    with tempfile.TemporaryDirectory() as directory:
        write_phase_at_scale(Path(directory))
        additions(Path(directory))
        deactivations(Path(directory))
        write_ahead_cost(Path(directory))
        bisection_2025(Path(directory))
