"""Mutation score of the planner and the Plan (not run in CI: it takes minutes).

    python benchmarks/mutation.py

Runs mutmut (configured in pyproject.toml: which modules, which tests) and prints the share of
mutants the tests kill, with every survivor, so each can be judged harmless or given a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ)
    env.setdefault("IDEOGRAM_SPEC_DIR", str(ROOT / "tests" / "data" / "spec"))
    mutmut = [sys.executable, "-m", "mutmut"]
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    run = subprocess.run(
        [*mutmut, "run", "--max-children", str(os.cpu_count() or 2)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-2000:], sep="\n")
        return 1
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses: Counter[str] = Counter()
    survivors = []
    for line in results.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        statuses[status] += 1
        if status == "survived":
            survivors.append(name)
    with_tests = statuses["killed"] + statuses["survived"] + statuses["timeout"]
    score = (statuses["killed"] + statuses["timeout"]) / with_tests if with_tests else 0.0
    print(f"mutants: {sum(statuses.values())} ({dict(statuses)})")
    print(f"mutation score: {score:.1%} of {with_tests} mutants with tests")
    for name in survivors:
        print(f"  survived: {name}")
        diff = subprocess.run(
            [*mutmut, "show", name], cwd=ROOT, env=env, capture_output=True, text=True
        ).stdout
        print(
            "    "
            + "\n    ".join(
                line
                for line in diff.splitlines()
                if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
