"""Whole commands, as a user runs them: CLI processes against a served sandbox.

    python benchmarks/bench_e2e.py                      # 10,000 and 100,000 members
    python benchmarks/bench_e2e.py --sizes 10000 100000 1000000
    python benchmarks/bench_e2e.py --latency 0.05 --sizes 100000   # the apply write phase at 50 ms

For each size: `sandbox init` (a tenth as many keys), `sandbox serve`, then `export`, `validate`,
`plan` and `apply --auto-approve` of a file with 1% of the members removed and 1% added. Each
command is its own process; CPU seconds (user + system) and peak RSS come from the kernel
(wait4), so they are what the user's machine pays, start-up and all. The last table gives the
growth factor per 10x of members. `--help` start-up CPU is measured first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CLI = [sys.executable, "-m", "reconciler.cli"]


@dataclass
class Sample:
    command: str
    cpu: float
    rss_mib: float
    wall: float
    exit_code: int


def run(
    command: str, args: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)
) -> Sample:
    start = time.perf_counter()
    process = subprocess.Popen(
        CLI + args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode not in ok:
        raise SystemExit(f"{command} exited {process.returncode}:\n{stderr.decode()[-3000:]}")
    return Sample(
        command, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall, process.returncode
    )


def startup_cpu(repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        process = subprocess.Popen(CLI + ["--help"], stdout=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        samples.append(usage.ru_utime + usage.ru_stime)
    return sorted(samples)[len(samples) // 2]


def outsiders(state: Path, count: int) -> tuple[str, list[str]]:
    """The organization id, and emails of Ideogram users not in it yet (the ones the file adds).

    Read in a child process: a forked child inherits this process's peak RSS on Linux, so this
    process must never hold a large state, or every figure below would carry it."""
    code = (
        "import json, sys; data = json.load(open(sys.argv[1])); org = data['organizations'][0]; "
        "inside = {m['user_id'] for m in org['members']}; "
        "print(json.dumps([org['organization_id'], [u['email_address'] for u in data['users'] "
        "if u['user_id'] not in inside][:int(sys.argv[2])]]))"
    )
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", code, str(state), str(count)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return found[0], found[1]


def desired_from_export(exported: str, newcomers: list[str]) -> str:
    """The export with every 100th plain member left out and the newcomers added."""
    lines = exported.splitlines()
    out: list[str] = []
    member_line = re.compile(r"^      - email: ")
    seen = 0
    for index, line in enumerate(lines):
        if member_line.match(line):
            next_line = lines[index + 1] if index + 1 < len(lines) else ""
            is_owner = next_line.strip() == "role: OWNER"
            seen += 1
            if seen % 100 == 50 and not is_owner:
                continue
        out.append(line)
        if line == "    members:":
            out.extend(f"      - email: {email}" for email in newcomers)
    return "\n".join(out) + "\n"


def serve(
    state: Path, cwd: Path, env: dict[str, str], latency: float
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env_file = cwd / "sandbox.env"
    args = ["sandbox", "serve", "--state", str(state), "--port", "0"]
    if latency:
        args += ["--latency", str(latency)]
    server = subprocess.Popen(
        CLI + args, cwd=cwd, env=env, stdout=env_file.open("wb"), stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = env_file.read_text() if env_file.exists() else ""
        if "IDEOGRAM_TOKEN" in text:
            pairs = dict(line.split("=", 1) for line in text.split())
            return server, {**env, **pairs}
        if server.poll() is not None:
            raise SystemExit("sandbox serve did not start")
        time.sleep(0.1)
    raise SystemExit("sandbox serve took over 10 minutes to start")


def write_latency(
    served: dict[str, str], state: Path, members: int, count: int = 20
) -> list[float]:
    """Milliseconds the served sandbox takes to answer single-member add calls (before the
    export)."""
    import httpx

    org_id, emails = outsiders(state, members // 100 + count)
    emails = emails[members // 100 :]
    timings = []
    with httpx.Client(
        base_url=served["IDEOGRAM_ENDPOINT"],
        timeout=60,
        headers={"Authorization": f"Bearer {served['IDEOGRAM_TOKEN']}"},
    ) as client:
        for email in emails:
            start = time.perf_counter()
            client.post(
                "/manage/api/organization/add_members",
                params={"organization_id": org_id},
                json={"members": [{"email_address": email}]},
            ).raise_for_status()
            timings.append((time.perf_counter() - start) * 1000)
    return sorted(timings)


def bench_size(members: int, latency: float) -> list[Sample]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("IDEOGRAM_ENDPOINT", None)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        cwd = Path(folder)
        state = cwd / "state.json"
        run(
            "sandbox init",
            [
                "sandbox",
                "init",
                "--members",
                str(members),
                "--keys",
                str(max(1, members // 10)),
                "--state",
                str(state),
            ],
            env,
            cwd,
        )
        server, served = serve(state, cwd, env, latency)
        try:
            if not latency:
                timings = write_latency(served, state, members)
                print(
                    f"  sandbox serve, one-member add: median {timings[len(timings) // 2]:.1f} ms, "
                    f"slowest {timings[-1]:.1f} ms",
                    flush=True,
                )
            samples = [run("export", ["export", "-o", "exported.yaml"], served, cwd)]
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--make-desired",
                    str(cwd / "exported.yaml"),
                    str(cwd / "desired.yaml"),
                    str(state),
                    str(members // 100),
                ],
                check=True,
            )
            limit = ["--max-file-size", "1GiB"]  # 1,000,000 members make a 62 MB file
            samples.append(run("validate", ["validate", "-c", "desired.yaml", *limit], served, cwd))
            samples.append(
                run(
                    "plan",
                    ["plan", "-c", "desired.yaml", "--out", "plan.json", *limit],
                    served,
                    cwd,
                )
            )
            samples.append(
                run("apply", ["apply", "-c", "desired.yaml", "--auto-approve", *limit], served, cwd)
            )
            plan_size = (cwd / "plan.json").stat().st_size
            print(
                f"  plan file: {plan_size / 1e6:.2f} MB for {2 * (members // 100)} changes",
                flush=True,
            )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds the sandbox adds to every answer"
    )
    parser.add_argument(
        "--make-desired",
        nargs=4,
        metavar=("EXPORTED", "DESIRED", "STATE", "NEWCOMERS"),
        help=argparse.SUPPRESS,
    )  # internal: run in a child, so this process stays small
    options = parser.parse_args()
    if options.make_desired:
        exported, desired, state, count = options.make_desired
        newcomers = outsiders(Path(state), int(count))[1]
        Path(desired).write_text(desired_from_export(Path(exported).read_text(), newcomers))
        return
    print(f"ideogram-org --help: {startup_cpu():.3f} s CPU (median of 5)")
    results: dict[int, dict[str, Sample]] = {}
    for members in options.sizes:
        print(
            f"{members:,} members, {max(1, members // 10):,} keys, latency {options.latency}s",
            flush=True,
        )
        results[members] = {s.command: s for s in bench_size(members, options.latency)}
        for sample in results[members].values():
            print(
                f"  {sample.command:<9} {sample.cpu:8.2f} s CPU  {sample.rss_mib:8.0f} MiB peak "
                "RSS  "
                f"{sample.wall:8.2f} s wall",
                flush=True,
            )
    sizes = sorted(results)
    for small, large in zip(sizes, sizes[1:], strict=False):
        print(f"growth {small:,} -> {large:,} ({large / small:.0f}x members):")
        for command in results[small]:
            a, b = results[small][command], results[large][command]
            print(f"  {command:<9} CPU x{b.cpu / a.cpu:.1f}  RSS x{b.rss_mib / a.rss_mib:.1f}")


if __name__ == "__main__":
    main()
