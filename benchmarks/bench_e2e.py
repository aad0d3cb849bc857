"""Whole commands, as a user runs them: CLI processes against a served sandbox.

    python benchmarks/bench_e2e.py                      # 10,000 and 100,000 members
    python benchmarks/bench_e2e.py --sizes 10000 100000 1000000
    python benchmarks/bench_e2e.py --latency 0.05 --sizes 100000   # the apply write phase at 50 ms

For each size: `sandbox init` (a tenth as many keys), `sandbox serve`, then `export`, `validate`,
`plan`, `drift`, `show`, `usage --by key` over 90 days, and `apply PLANFILE` of a file with 1% of
the members removed and 1% added (each apply on a fresh copy of the organization). Each command
is its own process; CPU seconds (user + system) and peak RSS come from the kernel (wait4), so
they are what the user's machine pays, start-up and all. Next to each, its floor
(benchmarks/floors.py: the least work that gives the same answer, with rapidyaml and msgspec),
measured the same way on the same files in the same run. Medians of --repeat runs. The last
table gives the growth factor per 10x of members. Start-up CPU is measured first, with its
floor: importing pydantic alone, which every command that reads a file needs.

The tool's modules are byte-compiled first, as `pip install` leaves them: with
PYTHONDONTWRITEBYTECODE set (as on some CI machines) an editable checkout would otherwise compile
its source in every process, and each figure would carry that (0.08 s here).

Run it in a venv of what a user installs, with the bench extra only:
    python3 -m venv .venv-bench && .venv-bench/bin/pip install -q -e '.[bench]'
    .venv-bench/bin/python benchmarks/bench_e2e.py
The test extra brings rich, and httpx imports its own command line when rich is there: 0.03 s
per command that no user's install pays. The script says so when it finds rich.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import re
import shutil
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


def startup_cpu(args: list[str], repeat: int = 5, command: list[str] = CLI) -> float:
    """Median CPU of `command` + `args` (the CLI by default) in processes of their own."""
    samples = []
    for _ in range(repeat):
        process = subprocess.Popen(
            command + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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


NETWORK = ["--max-response-size", "8GiB", "--timeout", "600"]
LIMITS = ["--max-file-size", "1GiB", *NETWORK]
FLOORS = Path(__file__).resolve().parent / "floors.py"


def floor(command: str, args: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """A floor of benchmarks/floors.py, as its own process, measured as the commands are."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(FLOORS), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"floor {command} failed:\n{stderr.decode()[-3000:]}")
    wall = time.perf_counter() - start
    return Sample(command, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall, 0)


def median(samples: list[Sample]) -> Sample:
    """The run of median CPU; its RSS is the median RSS of the runs."""
    by_cpu = sorted(samples, key=lambda s: s.cpu)
    middle = by_cpu[len(by_cpu) // 2]
    rss = sorted(s.rss_mib for s in samples)[len(samples) // 2]
    return Sample(middle.command, middle.cpu, rss, middle.wall, middle.exit_code)


@dataclass
class Measured:
    command: str
    tool: Sample
    floor: Sample | None


class Served:
    """A `sandbox serve` of a copy of the pristine state, restarted fresh for each apply."""

    def __init__(self, pristine: Path, cwd: Path, env: dict[str, str], latency: float) -> None:
        self.pristine, self.cwd, self.env, self.latency = pristine, cwd, env, latency
        self.server: subprocess.Popen[bytes] | None = None
        self.served: dict[str, str] = {}

    def start(self) -> dict[str, str]:
        self.stop()
        state = self.cwd / "served-state.json"
        shutil.copyfile(self.pristine, state)
        self.server, self.served = serve(state, self.cwd, self.env, self.latency)
        return self.served

    def stop(self) -> None:
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(120)
            self.server = None


def bench_size(members: int, latency: float, repeat: int) -> list[Measured]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("IDEOGRAM_ENDPOINT", None)
    keys = max(1, members // 10)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as folder:
        cwd = Path(folder)
        state = cwd / "state.json"
        init = ["sandbox", "init", "--members", str(members), "--keys", str(keys)]
        run("sandbox init", [*init, "--state", str(state)], env, cwd)
        server = Served(state, cwd, env, latency)
        try:
            served = server.start()
            if not latency:
                timings = write_latency(served, state, members)
                print(
                    f"  sandbox serve, one-member add: median {timings[len(timings) // 2]:.1f} ms, "
                    f"slowest {timings[-1]:.1f} ms",
                    flush=True,
                )
                served = server.start()  # the latency probe added members: start again
            org_id = outsiders(state, 0)[0]

            def times(command: str, args: list[str], ok: tuple[int, ...] = (0,)) -> Sample:
                return median([run(command, args, served, cwd, ok) for _ in range(repeat)])

            def floors(command: str, args: list[str]) -> Sample:
                return median([floor(command, args, served, cwd) for _ in range(repeat)])

            export = times("export", ["export", "-o", "exported.yaml", *NETWORK])
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
            file = ["-c", "desired.yaml", *LIMITS]
            results = [
                Measured("export", export, floors("export", ["export", org_id, "floor.yaml"])),
                Measured(
                    "validate",
                    times(
                        "validate", ["validate", "-c", "desired.yaml", "--max-file-size", "1GiB"]
                    ),
                    floors("validate", ["read", "desired.yaml"]),
                ),
                Measured(
                    "plan",
                    times("plan", ["plan", *file, "--out", "plan.json"]),
                    floors("plan", ["plan", "desired.yaml", org_id]),
                ),
                Measured(
                    "drift",
                    times("drift", ["drift", *file], ok=(0, 2)),
                    floors("drift", ["plan", "desired.yaml", org_id]),
                ),
                Measured(
                    "show",
                    times("show", ["show", "plan.json"]),
                    floors("show", ["show", "plan.json"]),
                ),
                Measured(
                    "usage",
                    times(
                        "usage",
                        ["usage", *file, "--since", "90d", "--by", "key", "--output", "json"]
                        + ["-o", "usage.json"],
                    ),
                    floors("usage", ["usage", org_id, "90"]),
                ),
            ]
            plan_size = (cwd / "plan.json").stat().st_size
            print(
                f"  plan file: {plan_size / 1e6:.2f} MB for {2 * (members // 100)} changes",
                flush=True,
            )
            applied, floored = [], []
            for _ in range(repeat):  # each apply on the organization as it was planned
                served = server.start()
                run("plan", ["plan", *file, "--out", "apply.json"], served, cwd, (0, 2))
                applied.append(run("apply PLANFILE", ["apply", "apply.json", *LIMITS], served, cwd))
            for _ in range(repeat):
                served = server.start()
                floored.append(floor("apply", ["apply", "desired.yaml", org_id], served, cwd))
            results.append(Measured("apply PLANFILE", median(applied), median(floored)))
        finally:
            server.stop()
    return results


def print_table(members: int, results: list[Measured]) -> None:
    print(
        f"| at {members:,} members | CPU s | peak RSS MiB | floor CPU s | floor RSS MiB "
        "| CPU ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for m in results:
        f = m.floor
        ratio = f"{m.tool.cpu / f.cpu:.1f}x" if f and f.cpu else ""
        floor_cpu = f"{f.cpu:.2f}" if f else ""
        floor_rss = f"{f.rss_mib:.0f}" if f else ""
        print(
            f"| `{m.command}` | {m.tool.cpu:.2f} | {m.tool.rss_mib:.0f} | {floor_cpu} | "
            f"{floor_rss} | {ratio} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median is shown")
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
    root = Path(__file__).resolve().parent.parent
    compileall.compile_dir(root / "reconciler", quiet=1)  # what a user's installed copy holds
    if importlib.util.find_spec("rich") is not None:
        print(
            "note: rich is installed here (the test extra), so every command also imports httpx's "
            "command line; a user's install does not (see this script's docstring)"
        )
    small = root / "examples" / "acme" / "ideogram-org.yaml"
    print(f"start-up: --help {startup_cpu(['--help']):.3f} s CPU, ", end="")
    print(f"validate of the example {startup_cpu(['validate', '-c', str(small)]):.3f} s CPU")
    # the start-up floor: pydantic, which validates the file, imported alone (no model built)
    pydantic_alone = startup_cpu(["-c", "import pydantic.dataclasses"], command=[sys.executable])
    print(f"  floor: importing pydantic alone {pydantic_alone:.3f} s CPU")
    results: dict[int, dict[str, Sample]] = {}
    for members in options.sizes:
        print(
            f"{members:,} members, {max(1, members // 10):,} keys, latency {options.latency}s, "
            f"median of {options.repeat}",
            flush=True,
        )
        measured = bench_size(members, options.latency, options.repeat)
        print_table(members, measured)
        results[members] = {m.command: m.tool for m in measured}
    sizes = sorted(results)
    for small_size, large in zip(sizes, sizes[1:], strict=False):
        print(f"growth {small_size:,} -> {large:,} ({large / small_size:.0f}x members):")
        for command in results[small_size]:
            a, b = results[small_size][command], results[large][command]
            print(f"  {command:<15} CPU x{b.cpu / a.cpu:.1f}  RSS x{b.rss_mib / a.rss_mib:.1f}")


if __name__ == "__main__":
    main()
