"""The git state store: one lock, one audit chain and one set of key bindings for every machine.

Remotes are real (a bare repository by file://, or served on loopback by `git daemon`); applies
run as real processes, each 'machine' with its own working directory, HOME, cache and lock
folder, against the sandbox served over HTTP with write latency.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.defaults import STATE_BRANCH
from reconciler.errors import BindingConflictError
from reconciler.sandbox import Faults
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.store.audit import verify_log
from reconciler.store.crash_points import CRASH_ENV, CRASH_STATUS
from reconciler.store.git_state import GitStore
from reconciler.store.state import LockedError, LockLostError, RunInfo, StateError
from tests.clock import FakeClock
from tests.git_remote import Machine, bare_repository, git, git_daemon
from tests.scenario import ACTIONS, TOKEN, scenario, served, three_owners_two_files

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
BRANCH = STATE_BRANCH


def with_state(text: str, url: str, lease: str = "15m") -> str:
    block = f"state:\n  backend: git\n  url: {url}\n  branch: {BRANCH}\n  lease: {lease}\n"
    return text.replace("version: 1\n", f"version: 1\n{block}", 1)


def branch_records(remote: Path) -> list[dict]:
    text = git("--git-dir", str(remote), "show", f"{BRANCH}:audit.jsonl")
    return [json.loads(line) for line in text.splitlines() if line]


def branch_commits(remote: Path) -> int:
    try:
        return int(git("--git-dir", str(remote), "rev-list", "--count", BRANCH))
    except subprocess.CalledProcessError:
        return 0


def cli_process(
    machine: Machine, api: str, *args: str, crash_at: str | None = None
) -> subprocess.Popen[str]:
    extra = {"IDEOGRAM_TOKEN": TOKEN, "IDEOGRAM_ENDPOINT": api}
    if crash_at:
        extra[CRASH_ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", *args],
        cwd=machine.work,
        env=machine.env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_cli(machine: Machine, api: str, *args: str, crash_at: str | None = None):
    process = cli_process(machine, api, *args, crash_at=crash_at)
    out, errors = process.communicate(timeout=180)
    return process.returncode, out, errors


def store(url: str, folder: Path, **kwargs) -> GitStore:
    return GitStore(url, BRANCH, cache=folder, actor="tester", **kwargs)


def run_info(name: str) -> RunInfo:
    return RunInfo(run_id=name, user=f"user-{name}", machine=f"host-{name}", plan_hash="p" * 64)


# --- the store itself ---------------------------------------------------------------------------


def test_a_lock_is_a_compare_and_swap_a_second_machine_is_refused_naming_the_holder(tmp_path):
    remote = bare_repository(tmp_path)
    a, b = store(f"file://{remote}", tmp_path / "a"), store(f"file://{remote}", tmp_path / "b")
    with a.locked(["org1"], run_info("run-a"), 0) as audit:
        audit.append("run.start", plan_hash="x")
        refused_run = pytest.raises(LockedError, match="run run-a of user-run-a on host-run-a")
        with refused_run as refused, b.locked(["org1"], run_info("run-b"), 0):
            pass
        assert "state unlock run-a" in str(refused.value)
    with b.locked(["org1"], run_info("run-b"), 0):  # released: the next machine takes it
        pass
    events = [(r["run_id"], r["event"]) for r in branch_records(remote)]
    assert events == [
        ("run-a", "lock.acquired"),
        ("run-a", "run.start"),
        ("run-a", "lock.released"),
        ("run-b", "lock.acquired"),
        ("run-b", "lock.released"),
    ]
    assert verify_log_of(remote).problems == []


def verify_log_of(remote: Path):
    path = remote.parent / "chain.jsonl"
    path.write_text(git("--git-dir", str(remote), "show", f"{BRANCH}:audit.jsonl"))
    return verify_log(path)


def test_runs_of_two_organizations_at_once_publish_into_one_chain(tmp_path):
    """B moves the branch while A holds its lock: A's next checkpoint is rejected, so A chains its
    records after B's and publishes again; its outcomes still name their intents."""
    remote = bare_repository(tmp_path)
    a, b = store(f"file://{remote}", tmp_path / "a"), store(f"file://{remote}", tmp_path / "b")
    with a.locked(["org1"], run_info("run-a"), 0) as audit_a:
        intent = audit_a.append("write.intent", organization="one", action="member.add")
        with b.locked(["org2"], run_info("run-b"), 0) as audit_b:
            audit_b.append("run.start", plan_hash="b")
        audit_a.checkpoint()  # rejected once (B moved the branch), then chained after B's records
        audit_a.append("write", intent=audit_a.current(intent["hash"]), outcome="ok")
    records = branch_records(remote)
    assert verify_log_of(remote).problems == []
    assert [r["run_id"] for r in records].count("run-b") == 3
    outcome = next(r for r in records if r["event"] == "write")
    published_intent = next(r for r in records if r["event"] == "write.intent")
    assert outcome["intent"] == published_intent["hash"]
    assert verify_log_of(remote).unknown_outcomes == []


def test_a_dead_runs_lock_is_taken_over_after_its_lease_and_it_is_on_record(tmp_path):
    remote = bare_repository(tmp_path)
    clock = FakeClock()
    dead = store(f"file://{remote}", tmp_path / "a", lease=timedelta(minutes=15), clock=clock.utc)
    dead._acquire(["org1"], run_info("run-dead"), 0)  # the runner is killed: no release, no renewal
    heir = store(f"file://{remote}", tmp_path / "b", clock=clock.utc, sleep=clock.sleep, poll=10)
    # it waits 60 s of the clock, in vain
    with pytest.raises(LockedError, match="run run-dead"), heir.locked(["org1"], run_info("b"), 60):
        pass
    clock.advance(15 * 60)
    with heir.locked(["org1"], run_info("run-b"), 0):
        pass
    taken = [r for r in branch_records(remote) if r["event"] == "lock.taken_over"]
    assert len(taken) == 1 and taken[0]["holder"] == "run-dead" and taken[0]["run_id"] == "run-b"


def test_state_unlock_breaks_a_lock_on_record_and_its_run_sends_nothing_more(tmp_path, monkeypatch):
    remote = bare_repository(tmp_path)
    holder = store(f"file://{remote}", tmp_path / "a")
    session = holder._acquire(["org1"], run_info("run-a"), 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ideogram-org.yaml").write_text(with_state(ACME, f"file://{remote}"))
    monkeypatch.setenv("USER", "dana")
    broken = CliRunner().invoke(main, ["state", "unlock", "run-a"])
    assert broken.exit_code == 0, broken.output
    assert "broke the lock of run run-a on organization(s) org1" in broken.output
    record = branch_records(remote)[-1]
    assert record["event"] == "lock.broken" and record["holder"] == "run-a"
    assert "dana" in record["message"]
    session.audit.append("write.intent", organization="acme", action="member.add")
    with pytest.raises(LockLostError, match="no further call is sent"):
        session.audit.checkpoint()
    # what it had on record still reached the chain
    assert branch_records(remote)[-1]["event"] == "write.intent"
    again = CliRunner().invoke(main, ["state", "unlock", "run-a"])
    assert again.exit_code == 1 and "run run-a holds no lock" in again.stderr


def test_a_rewritten_state_branch_is_refused(tmp_path):
    remote = bare_repository(tmp_path)
    first = store(f"file://{remote}", tmp_path / "a")
    with first.locked(["org1"], run_info("run-1"), 0):
        pass
    old = git("--git-dir", str(remote), "rev-parse", f"{BRANCH}~1").strip()
    with first.locked(["org1"], run_info("run-2"), 0):
        pass
    git("--git-dir", str(remote), "update-ref", f"refs/heads/{BRANCH}", old)  # a force-push
    with pytest.raises(StateError, match="the state branch was rewritten"):
        first.snapshot()


def test_a_key_id_in_the_file_that_contradicts_the_store_is_an_error_naming_both(tmp_path):
    from reconciler.config.loader import bind_keys, load_config

    path = tmp_path / "ideogram-org.yaml"
    path.write_text(ACME.replace("    api_keys:\n", "    api_keys:\n      ci: {id: key_in_file}\n"))
    config = load_config(path)
    with pytest.raises(BindingConflictError, match="key_in_file.*key_in_store"):
        bind_keys(config, {("acme", "ci"): "key_in_store"}, "git://x#b")
    same = bind_keys(config, {("acme", "ci"): "key_in_file"}, "git://x#b")
    assert same.desired.organizations["acme"].api_keys["ci"].id == "key_in_file"


# --- machines -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_key_created_on_one_machine_is_planned_as_existing_on_another(tmp_path):
    """Machine A creates a key and binds it in the store; machine B's checkout has no id for it
    (A's write-back never left A) and still plans no second key."""
    (tmp_path / "remotes").mkdir()
    bare_repository(tmp_path / "remotes")
    with git_daemon(tmp_path / "remotes") as prefix, served(demo_state()) as (sandbox, api):
        text = with_state(ACME, f"{prefix}state.git").replace(
            "    api_keys:\n", "    api_keys:\n      design-team: {}\n"
        )
        a, b = Machine(tmp_path / "a"), Machine(tmp_path / "b")
        for machine in (a, b):
            (machine.work / "ideogram-org.yaml").write_text(text)
        code, _, errors = run_cli(a, api, "apply", "--auto-approve", "--secrets-file", "s.jsonl")
        assert code == 0, errors
        assert (a.work / "ideogram-org.yaml").read_text() == text  # no id written back
        keys_before = len(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        code, out, errors = run_cli(b, api, "plan", "--detailed-exitcode")
        assert code == 0, out + errors  # nothing to do: the key exists, bound in the store
        code, out, errors = run_cli(b, api, "apply", "--auto-approve")
        assert code == 0, errors
        assert len(sandbox.state.organizations[DEMO_ORG_ID].api_keys) == keys_before
        code, out, _ = run_cli(b, api, "state", "show")
        assert code == 0 and "acme design-team = " in out


@pytest.mark.slow
def test_127_0_0_1_and_localhost_take_one_lock(tmp_path):
    """The local store's lock is named by the organization id, not the endpoint's spelling."""
    machine = Machine(tmp_path / "m")
    (machine.work / "ideogram-org.yaml").write_text(ACME)
    with served(demo_state(), Faults(latency=0.4)) as (sandbox, api):
        port = api.rsplit(":", 1)[1]
        first = cli_process(machine, f"http://127.0.0.1:{port}", "apply", "--auto-approve")
        deadline = time.monotonic() + 30
        while not sandbox.write_requests:  # the first apply holds its lock and is writing
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        code, _, errors = run_cli(machine, f"http://localhost:{port}", "apply", "--auto-approve")
        first.communicate(timeout=60)
    assert code == 1 and "another apply holds the lock of organization" in errors
    assert first.returncode == 0


@pytest.mark.slow
def test_two_machines_applying_conflicting_files_at_once_never_break_min_owners(tmp_path):
    """Three owners, min_owners 2; machine A's file drops one owner, B's another. Each alone is
    safe; both at once would leave one. 20 trials, each with its own remote and sandbox."""
    for trial in range(20):
        folder = tmp_path / f"t{trial}"
        remote = bare_repository(folder)
        machines = [Machine(folder / name) for name in ("a", "b")]
        state, *texts = three_owners_two_files()
        for machine, text in zip(machines, texts, strict=True):
            (machine.work / "ideogram-org.yaml").write_text(with_state(text, f"file://{remote}"))
        with served(state, Faults(latency=0.1)) as (sandbox, api):
            runs = [
                cli_process(m, api, "apply", "--auto-approve", "--lock-timeout", "120")
                for m in machines
            ]
            outputs = [run.communicate(timeout=180) for run in runs]
            lowest = sandbox.min_owners_seen(DEMO_ORG_ID)
        assert lowest >= 2, (trial, outputs)
        assert verify_log_of(remote).problems == [], trial
        assert verify_log_of(remote).unknown_outcomes == [], trial


@pytest.mark.slow
def test_two_machines_applying_one_file_at_once_leave_one_active_key_per_label(tmp_path):
    for trial in range(10):
        folder = tmp_path / f"t{trial}"
        remote = bare_repository(folder)
        text = with_state(ACME, f"file://{remote}").replace(
            "    api_keys:\n", "    api_keys:\n      one: {}\n      two: {}\n      three: {}\n"
        )
        machines = [Machine(folder / name) for name in ("a", "b")]
        for machine in machines:
            (machine.work / "ideogram-org.yaml").write_text(text)
        with served(demo_state(), Faults(latency=0.1)) as (sandbox, api):
            before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
            runs = [
                cli_process(
                    m,
                    api,
                    "apply",
                    "--auto-approve",
                    "--secrets-file",
                    "s.jsonl",
                    "--lock-timeout",
                    "120",
                )
                for m in machines
            ]
            outputs = [run.communicate(timeout=180) for run in runs]
            keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys.values()
            new_active = [k for k in keys if k.api_key_id not in before and k.status == "ACTIVE"]
        assert len(new_active) == 3, (trial, outputs)
        bindings = {
            k["label"]: k["api_key_id"]
            for r in branch_records(remote)
            if r["event"] == "key.bound"
            for k in r["keys"]
        }
        assert sorted(bindings) == ["one", "three", "two"], trial
        assert set(bindings.values()) == {k.api_key_id for k in new_active}, trial


def _moments(count: int, calls: int, seed: int) -> list[tuple[str, int]]:
    every = [(m, n) for m in ("write.intent", "sent", "write") for n in range(1, calls + 1)]
    every += [("published", n) for n in range(1, 5)]
    return random.Random(seed).sample(every, count)


def _killed_on_a_then_applied_on_b(folder: Path, moment: str, n: int) -> None:
    s = scenario("2026-06", members=20, seed=20261125)
    remote = bare_repository(folder)
    a, b = Machine(folder / "a"), Machine(folder / "b")
    for machine in (a, b):
        # a short lease: B takes over the lock the killed run left within seconds
        (machine.work / "ideogram-org.yaml").write_text(
            with_state(s.text, f"file://{remote}", lease="3s")
        )
    with served(s.state) as (sandbox, api):
        original = set(sandbox.state.organizations[s.org_id].api_keys)
        code, _, errors = run_cli(
            a,
            api,
            "apply",
            "--auto-approve",
            "--secrets-file",
            "s.jsonl",
            "--chunk-size",
            "3",
            crash_at=f"{moment}:{n}",
        )
        assert code == CRASH_STATUS, (moment, n, code, errors)
        approval: list[str] = []
        for _ in range(4):
            code, _, errors = run_cli(
                b,
                api,
                "apply",
                "--auto-approve",
                "--secrets-file",
                "s.jsonl",
                "--lock-timeout",
                "30",
                *approval,
            )
            asked = re.search(r"--allow-unsafe ([0-9a-f]{12})", errors)
            approval = ["--allow-unsafe", asked[1]] if asked else []
            plan, _, _ = run_cli(b, api, "plan", "--detailed-exitcode")
            if plan == 0:
                break
        else:
            pytest.fail(f"killed at {moment}:{n}, B did not converge: {errors}")
        received = [w for w in sandbox.write_requests]
        lowest = sandbox.min_owners_seen(s.org_id)
        keys = sandbox.state.organizations[s.org_id].api_keys.values()
        live_new = {
            k.api_key_id for k in keys if k.api_key_id not in original and k.status == "ACTIVE"
        }
        code, out, verified = run_cli(b, api, "audit", "verify")
    trial = (moment, n)
    records = branch_records(remote)
    intents = Counter(r["action"] for r in records if r["event"] == "write.intent")
    sent = Counter(ACTIONS[w.operation] for w in received)
    assert all(intents[action] >= count for action, count in sent.items()), (trial, intents, sent)
    assert lowest >= s.min_owners, trial
    assert len(live_new) == 2, trial  # one ACTIVE key per label
    assert code == 0, (trial, verified)
    settled = [r for r in records if r["event"] == "write.settled"]
    assert verified.count("settled: ") == len(settled), trial
    assert "unknown outcome" not in verified, trial


@pytest.mark.slow
@pytest.mark.parametrize(("moment", "n"), [("sent", 2), ("published", 2)])
def test_a_run_killed_on_one_machine_is_settled_by_the_next_apply_on_another(tmp_path, moment, n):
    _killed_on_a_then_applied_on_b(tmp_path, moment, n)


@pytest.mark.slow
def test_killed_at_20_seeded_moments_on_one_machine_then_applied_on_another(tmp_path):
    for trial, (moment, n) in enumerate(_moments(20, 10, seed=21)):
        folder = tmp_path / f"t{trial}"
        folder.mkdir()
        _killed_on_a_then_applied_on_b(folder, moment, n)


@pytest.mark.slow
def test_a_lock_a_killed_run_left_is_refused_then_taken_over_after_its_lease(tmp_path):
    remote = bare_repository(tmp_path)
    a, b = Machine(tmp_path / "a"), Machine(tmp_path / "b")
    text = with_state(ACME, f"file://{remote}", lease="3s")
    for machine in (a, b):
        (machine.work / "ideogram-org.yaml").write_text(text)
    with served(demo_state()) as (sandbox, api):
        code, _, _ = run_cli(a, api, "apply", "--auto-approve", crash_at="published:1")
        assert code == CRASH_STATUS
        dead = next(r["holder"] for r in branch_records(remote) if r["event"] == "lock.acquired")
        code, _, errors = run_cli(b, api, "apply", "--auto-approve")
        assert code == 1 and f"run {dead}" in errors and "nothing was sent" in errors
        code, _, errors = run_cli(b, api, "apply", "--auto-approve", "--lock-timeout", "30")
        assert code == 0, errors
        code, _, _ = run_cli(b, api, "plan", "--detailed-exitcode")
        assert code == 0
    taken = [r for r in branch_records(remote) if r["event"] == "lock.taken_over"]
    assert [t["holder"] for t in taken] == [dead]


@pytest.mark.slow
def test_an_apply_pushes_at_most_once_per_phase_plus_two(tmp_path):
    remote = bare_repository(tmp_path)
    machine = Machine(tmp_path / "m")
    (machine.work / "ideogram-org.yaml").write_text(with_state(ACME, f"file://{remote}"))
    with served(demo_state()) as (_, api):
        code, out, _ = run_cli(machine, api, "apply", "--dry-run", "--output", "json")
        calls = json.loads(out)["calls"]
        code, _, errors = run_cli(machine, api, "apply", "--auto-approve")
        assert code == 0, errors
    phases = len({c.split("?")[0] for c in calls})  # ACME: one call of each kind, no owner
    assert branch_commits(remote) <= phases + 2


def test_state_migrate_moves_the_local_chain_and_bindings_and_it_still_verifies(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    remote = bare_repository(tmp_path)
    local = ACME.replace("    api_keys:\n", "    api_keys:\n      design-team: {}\n")
    (tmp_path / "ideogram-org.yaml").write_text(local)
    runner = CliRunner(env={"IDEOGRAM_TOKEN": TOKEN, "NO_COLOR": "1"})
    applied = runner.invoke(main, ["apply", "--sandbox", "--auto-approve", "--secrets-file", "s"])
    assert applied.exit_code == 0, applied.output
    head = verify_log(tmp_path / "ideogram-org.audit.jsonl").head
    moved = runner.invoke(main, ["state", "migrate", "--to", "git", "--url", f"file://{remote}"])
    assert moved.exit_code == 0, moved.output
    assert "4 key binding(s)" in moved.output and "set `state: {backend: git}`" in moved.stderr
    with_ids = (tmp_path / "ideogram-org.yaml").read_text()
    key_id = re.search(r"id: ([^\s}]+)", with_ids.split("design-team:")[1])[1]
    # the file now names the store and, on this machine too, needs no id
    (tmp_path / "ideogram-org.yaml").write_text(with_state(local, f"file://{remote}"))
    verified = runner.invoke(main, ["audit", "verify", "--head", head])
    assert verified.exit_code == 0, verified.output
    assert f"file://{remote}#{BRANCH}" in verified.output
    shown = runner.invoke(main, ["state", "show"])
    assert f"acme design-team = {key_id}" in shown.output
    again = runner.invoke(main, ["state", "migrate", "--to", "git"])
    assert again.exit_code == 1 and "the branch exists already" in again.stderr


def test_validate_checks_the_state_block_to_the_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = ACME.replace("version: 1\n", "version: 1\nstate:\n  backend: s3\n  lease: soon\n", 1)
    (tmp_path / "ideogram-org.yaml").write_text(text)
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1
    line = text.splitlines().index("  backend: s3") + 1
    assert f"ideogram-org.yaml:{line}:" in result.output + result.stderr
    assert "lease" in result.output + result.stderr
    good = with_state(ACME, "origin")
    (tmp_path / "ideogram-org.yaml").write_text(good)
    assert CliRunner().invoke(main, ["validate"]).exit_code == 0


def test_the_state_token_never_appears_in_what_git_says(tmp_path, monkeypatch):
    import base64

    from reconciler.defaults import STATE_TOKEN_ENV as TOKEN_ENV
    from reconciler.store.git import Git

    token = "ghs_state_token_do_not_leak_77"
    monkeypatch.setenv(TOKEN_ENV, token)
    runner = Git(tmp_path / "cache.git", "https://user:hunter2@127.0.0.1:9/acme/org.git", "me")
    assert "AUTHORIZATION: basic" in runner.env["GIT_CONFIG_VALUE_0"]
    assert TOKEN_ENV not in runner.env  # git gets the header, not the variable
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    said = runner.scrub(f"fatal: {token} {header} https://user:hunter2@127.0.0.1:9/acme/org.git")
    assert token not in said and header not in said and "hunter2" not in said
    with pytest.raises(StateError) as failed:
        GitStore("https://user:hunter2@127.0.0.1:9/acme/org.git", cache=tmp_path).snapshot()
    assert token not in str(failed.value) and "hunter2" not in str(failed.value)


def test_a_tampered_chain_on_the_branch_stops_apply_before_any_write(tmp_path, monkeypatch):
    """Someone with push access edits a record on the branch: plan says the chain is not used,
    apply sends nothing, audit verify names the line."""
    remote = bare_repository(tmp_path)
    writer = store(f"file://{remote}", tmp_path / "w")
    with writer.locked(["org1"], run_info("run-1"), 0) as audit:
        audit.append("run.start", plan_hash="x")
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", BRANCH, f"file://{remote}", str(clone))
    chain = (clone / "audit.jsonl").read_text().replace('"plan_hash":"x"', '"plan_hash":"y"')
    (clone / "audit.jsonl").write_text(chain)
    git("-C", str(clone), "-c", "user.name=m", "-c", "user.email=m@x", "commit", "-qam", "edit")
    git("-C", str(clone), "push", "--quiet", "origin", BRANCH)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ideogram-org.yaml").write_text(with_state(ACME, f"file://{remote}"))
    runner = CliRunner(env={"IDEOGRAM_TOKEN": TOKEN, "NO_COLOR": "1"})
    planned = runner.invoke(main, ["plan", "--sandbox"])
    assert "fails verification" in planned.stderr
    applied = runner.invoke(main, ["apply", "--sandbox", "--auto-approve"])
    assert applied.exit_code == 1 and "nothing was sent" in applied.stderr
    assert "Traceback" not in applied.output
    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 1 and "line 2: the record was edited" in verified.stderr


def test_a_living_run_renews_its_lease_so_no_one_takes_its_lock(tmp_path):
    remote = bare_repository(tmp_path)
    clock = FakeClock()
    holder = store(f"file://{remote}", tmp_path / "a", clock=clock.utc, wait=clock.wait)
    other = store(f"file://{remote}", tmp_path / "b", clock=clock.utc, sleep=clock.sleep)
    with holder.locked(["org1"], run_info("run-a"), 0):
        commits = branch_commits(remote)
        clock.advance(10 * 60)  # a third of the way and more: the run renews its lease
        deadline = time.monotonic() + 30
        while branch_commits(remote) == commits:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.02)
        clock.advance(10 * 60)  # 20 minutes after it was taken: past the first lease, not this one
        with (
            pytest.raises(LockedError, match="run run-a"),
            other.locked(["org1"], run_info("b"), 0),
        ):
            pass
    renewal = git("--git-dir", str(remote), "log", "--format=%s", BRANCH)
    assert "lease renewal of run run-a" in renewal
