"""Planning speed and memory: 1,000 to 100,000 members (and a tenth as many keys), in memory.

    python benchmarks/bench_plan.py            # the scaling table and the 100k figure
    python benchmarks/bench_plan.py --max 10000

Times compute_plan() alone against an in-memory live state (the desired model is built first,
as the loader would). Peak memory is the whole process's maximum RSS after the largest run, and
the tracemalloc peak of the planning step itself.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
import tracemalloc

from reconciler.config.models import DesiredState
from reconciler.model.live import LiveKey, LiveMember, LiveOrganization, LiveState
from reconciler.planning.planner import compute_plan

ORG_ID = "b3JnX2JlbmNo"


def build(members: int) -> tuple[DesiredState, LiveState]:
    keys = members // 10
    live_members = tuple(
        LiveMember(
            user_id=f"u{i}",
            email=f"person{i}@corp.example",
            handle=f"person_{i}",
            role="OWNER" if i < 3 else "MEMBER",
        )
        for i in range(members)
    )
    live_keys = tuple(
        LiveKey(api_key_id=f"k{i}", redacted="abcd•••", status="ACTIVE") for i in range(keys)
    )
    # the file: 1% of members are new, 1% were removed by hand, 1% promoted, 1% of keys disabled
    step = 100
    desired_members = []
    for i in range(members):
        if i % step == 1:
            continue  # will be removed
        role = "OWNER" if i < 3 or i % step == 2 else "MEMBER"
        desired_members.append({"email": f"Person{i}@corp.example", "role": role})
    desired_members += [{"handle": f"newcomer_{i}"} for i in range(members // step)]
    desired_keys = {
        f"key-{i}": {"id": f"k{i}", "status": "DISABLED" if i % step == 0 else "ACTIVE"}
        for i in range(keys)
    }
    desired = DesiredState.model_validate(
        {
            "version": 1,
            "policy": {"max_removals": "5%"},
            "organizations": {
                "bench": {"id": ORG_ID, "members": desired_members, "api_keys": desired_keys}
            },
        }
    )
    live = LiveState(
        organizations={
            "bench": LiveOrganization(
                name="bench",
                organization_id=ORG_ID,
                profile_name="bench",
                caller_role="OWNER",
                inflight_limit=10,
                members=live_members,
                keys=live_keys,
            )
        },
        api_version="2026-06",
    )
    return desired, live


def time_plan(members: int, repeat: int) -> tuple[float, int]:
    desired, live = build(members)
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        plan = compute_plan(desired, live, desired_file="bench.yaml", desired_hash="0" * 64)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), len(plan.changes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [n for n in (1_000, 3_000, 10_000, 30_000, 100_000) if n <= args.max]
    print(f"{'members':>8} {'keys':>7} {'changes':>8} {'seconds':>8} {'us/member':>10}")
    for n in sizes:
        seconds, changes = time_plan(n, args.repeat)
        print(f"{n:>8} {n // 10:>7} {changes:>8} {seconds:>8.3f} {seconds / n * 1e6:>10.2f}")
    desired, live = build(sizes[-1])
    tracemalloc.start()
    compute_plan(desired, live, desired_file="bench.yaml", desired_hash="0" * 64)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"planning step peak (tracemalloc) at {sizes[-1]} members: {traced_peak / 2**20:.1f} MiB")
    print(f"process peak RSS (inputs included): {rss_mib:.1f} MiB")


if __name__ == "__main__":
    main()
