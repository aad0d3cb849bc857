"""The GitHub Action in a simulated runner, against the sandbox served over real HTTP, with a fake
gh."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reconciler.api.endpoints import CREATE_KEY, DEACTIVATE_KEY
from reconciler.github_action import DRIFT_ISSUE_TITLE
from reconciler.render.rows import MARKER_PREFIX
from reconciler.sandbox import Sandbox, SandboxServer
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import b64id
from reconciler.sandbox.store import add_spike
from tests.action_runner import ROOT, Runner, load_action
from tests.fake_github_api import TOKEN as GITHUB_TOKEN
from tests.fake_github_api import fake_github
from tests.git_remote import bare_repository, git
from tests.receiver import Receiver

TOKEN = "idg-SECRET-do-not-leak-4242"
PR_EVENT = {"action": "synchronize", "pull_request": {"number": 7, "head": {"sha": "a" * 40}}}
MERGE_SHA = "b" * 40
PUSH_EVENT = {"ref": "refs/heads/main", "after": MERGE_SHA}
SCHEDULE_EVENT = {"schedule": "17 6 * * *"}
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory) -> Path:
    """Shared by the module's runs so the action's venv is built once (later runs see its key and
    skip)."""
    return tmp_path_factory.mktemp("runner-temp")


@pytest.fixture
def world(tmp_path, runner_temp):
    state = demo_state("2026-06")
    state.token = TOKEN
    sandbox = Sandbox(state)
    server = SandboxServer(sandbox)
    server.start_in_thread()
    workdir = tmp_path / "repo"
    workdir.mkdir()
    # a checkout whose origin is a real (bare) repository: the state branch is pushed there
    origin = bare_repository(tmp_path, "origin.git")
    git("init", "--quiet", str(workdir))
    git("-C", str(workdir), "remote", "add", "origin", f"file://{origin}")
    shutil.copy(ROOT / "examples" / "acme" / "ideogram-org.yaml", workdir / "ideogram-org.yaml")
    for stale in runner_temp.glob("ideogram-org-*"):
        if stale.is_file():
            stale.unlink()
    summary = runner_temp / "step-summary.md"
    if summary.exists():
        summary.unlink()
    runner = Runner(workdir, runner_temp, tmp_path / "gh")
    inputs = {"token": TOKEN, "endpoint": server.url, "config": "ideogram-org.yaml"}
    runner.origin = origin
    yield runner, sandbox, inputs
    server.shutdown()
    server.server_close()


def _assert_token_nowhere(runner: Runner, run) -> None:
    for index, step in enumerate(run.steps):
        text = step.stdout + step.stderr
        if index == 0:  # the mask command itself is how the runner learns what to hide
            text = text.replace(f"::add-mask::{TOKEN}", "")
        assert TOKEN not in text
        assert TOKEN not in json.dumps(step.outputs)
    assert TOKEN not in json.dumps(run.outputs)
    if runner.summary.exists():
        assert TOKEN not in runner.summary.read_text()
    assert TOKEN not in json.dumps(runner.gh_calls()) + json.dumps(runner.gh_world())
    for path in runner.workdir.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(errors="replace")


def test_action_and_workflows_validate_against_the_published_schemas():
    yaml = YAML(typ="safe")
    jsonschema.validate(
        yaml.load((ROOT / "action.yml").read_text()),
        json.loads((DATA / "github-actions.json").read_text()),
    )
    workflow_schema = json.loads((DATA / "github-workflows.json").read_text())
    workflows = sorted((ROOT / "examples" / "github").glob("*.yml"))
    assert [w.name for w in workflows] == [
        "apply.yml",
        "drift.yml",
        "plan.yml",
        "rotate.yml",
        "watch.yml",
    ]
    for workflow in workflows:
        jsonschema.validate(yaml.load(workflow.read_text()), workflow_schema)
    apply_workflow = yaml.load((ROOT / "examples" / "github" / "apply.yml").read_text())
    assert apply_workflow["concurrency"]["group"]


def test_inputs_reach_scripts_only_through_env():
    action = load_action()
    steps = action["runs"]["steps"]
    assert all("${{" not in step["run"] for step in steps), (
        "no expression may be spliced into a script"
    )
    assert "add-mask" in steps[0]["run"], "the token is masked before anything else runs"
    assert set(action["inputs"]) == {
        "command",
        "config",
        "token",
        "endpoint",
        "audit-log",
        "comment",
        "github-token",
        "working-directory",
        "alert-at",
        "spend",
        "state",
        "review-app",
        "secrets-token",
    }
    assert set(action["outputs"]) == {
        "changes",
        "plan-json",
        "plan-hash",
        "exit-code",
        "failure-reason",
        "audit-head",
        "spend-alert",
        "delivered-files",
    }


@pytest.mark.slow
def test_plan_on_a_pull_request_keeps_one_sticky_comment(world):
    runner, sandbox, inputs = world
    first = runner.run({**inputs, "command": "plan"}, PR_EVENT)
    assert first.succeeded, [s.stderr for s in first.steps]
    assert first.outputs["changes"] == "true" and first.outputs["exit-code"] == "2"
    assert first.outputs["failure-reason"] == ""
    plan = json.loads(Path(first.outputs["plan-json"]).read_text())
    assert plan["plan_hash"] == first.outputs["plan-hash"]
    assert "Plan: 1 to add, 1 to promote, 1 to remove" in runner.summary.read_text()
    comments = runner.gh_world()["comments"]["7"]
    assert len(comments) == 1 and comments[0]["body"].startswith(
        f"{MARKER_PREFIX} {plan['plan_hash']} -->"
    )
    assert all(call["has_gh_token"] for call in runner.gh_calls())
    # a second push to the pull request updates the same comment rather than adding one
    second = runner.run({**inputs, "command": "plan"}, PR_EVENT)
    assert second.succeeded
    comments = runner.gh_world()["comments"]["7"]
    assert len(comments) == 1
    assert any(call["args"][:3] == ["api", "-X", "PATCH"] for call in runner.gh_calls())
    assert sandbox.write_requests == []
    _assert_token_nowhere(runner, second)


def test_apply_on_merge_applies_the_reviewed_plan(world):
    runner, sandbox, inputs = world
    reviewed = runner.run({**inputs, "command": "plan"}, PR_EVENT)
    assert reviewed.succeeded
    world_state = runner.gh_world()
    world_state["pulls"] = {MERGE_SHA: [7]}
    world_state["heads"] = {"7": PR_EVENT["pull_request"]["head"]["sha"]}
    runner.set_gh_world(world_state)
    applied = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert applied.succeeded, [s.stdout + s.stderr for s in applied.steps]
    assert applied.outputs["plan-hash"] == reviewed.outputs["plan-hash"]
    assert applied.outputs["exit-code"] == "0" and applied.outputs["failure-reason"] == ""
    assert sandbox.state.organizations[DEMO_ORG_ID].members.get(b64id("user_liwei")) == "OWNER"
    # the audit chain went to the state branch of the repository's origin, not the runner's disk
    assert not (runner.workdir / "ideogram-org.audit.jsonl").exists()
    chain = git("--git-dir", str(runner.origin), "show", "ideogram-org-state:audit.jsonl")
    assert len(chain.splitlines()) >= 6
    assert "matches the file" in runner.summary.read_text()
    head = applied.outputs["audit-head"]
    assert len(head) == 64 and head in runner.summary.read_text()
    assert json.loads(chain.splitlines()[-1])["hash"] == head
    _assert_token_nowhere(runner, applied)


def test_a_review_marker_anyone_else_posted_approves_nothing(world):
    """A comment carrying the marker and the current plan's hash, posted by a person (or a check
    run of another app), is not the workflow's own record of a review: apply refuses."""
    runner, sandbox, inputs = world
    planned = runner.run({**inputs, "command": "plan", "comment": "false"}, PR_EVENT)
    plan_hash = planned.outputs["plan-hash"]
    head = PR_EVENT["pull_request"]["head"]["sha"]
    spoof = f"{MARKER_PREFIX} {plan_hash} -->\n<!-- ideogram-org head: {head} -->"
    world_state = runner.gh_world()
    world_state["comments"] = {"7": [{"id": 1, "body": spoof, "login": "mallory", "type": "User"}]}
    world_state["check_runs"] = [
        {"name": "ideogram-org plan", "head_sha": head, "external_id": plan_hash, "app": "evil"}
    ]
    world_state["pulls"] = {MERGE_SHA: [7]}
    world_state["heads"] = {"7": head}
    runner.set_gh_world(world_state)
    refused = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert refused.outputs["failure-reason"] == "no-reviewed-plan"
    assert sandbox.write_requests == []
    # the workflow's own comment on an older head commit vouches for nothing either
    world_state["check_runs"] = []
    world_state["comments"]["7"].append(
        {
            "id": 2,
            "body": spoof.replace(head, "c" * 40),
            "login": "github-actions[bot]",
            "type": "Bot",
        }
    )
    runner.set_gh_world(world_state)
    refused = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert refused.outputs["failure-reason"] == "no-reviewed-plan"
    assert sandbox.write_requests == []


@pytest.mark.slow
def test_apply_refuses_when_the_plan_changed_since_review(world):
    runner, sandbox, inputs = world
    assert runner.run({**inputs, "command": "plan"}, PR_EVENT).succeeded
    world_state = runner.gh_world()
    world_state["pulls"] = {MERGE_SHA: [7]}
    world_state["heads"] = {"7": PR_EVENT["pull_request"]["head"]["sha"]}
    runner.set_gh_world(world_state)
    # someone adds a member by hand between review and merge
    sandbox.state.organizations[DEMO_ORG_ID].members[b64id("user_oscar_d")] = "MEMBER"
    refused = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert not refused.succeeded
    assert (
        refused.outputs["failure-reason"] == "plan-changed" and refused.outputs["exit-code"] == "1"
    )
    assert sandbox.write_requests == []
    assert "differs from the plan reviewed" in runner.summary.read_text()
    _assert_token_nowhere(runner, refused)


def test_apply_without_a_reviewed_plan_is_refused(world):
    runner, sandbox, inputs = world
    refused = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert refused.outputs["failure-reason"] == "no-reviewed-plan"
    assert "checks: write" in runner.summary.read_text()  # says how to fix it
    assert sandbox.write_requests == []


def _merged(runner) -> None:
    world_state = runner.gh_world()
    world_state["pulls"] = {MERGE_SHA: [7]}
    world_state["heads"] = {"7": PR_EVENT["pull_request"]["head"]["sha"]}
    runner.set_gh_world(world_state)


def test_without_comments_apply_finds_the_reviewed_plan_in_a_check_run(world):
    runner, sandbox, inputs = world
    reviewed = runner.run({**inputs, "command": "plan", "comment": "false"}, PR_EVENT)
    assert reviewed.succeeded, [s.stderr for s in reviewed.steps]
    assert runner.gh_world()["comments"] == {}
    assert [r["external_id"] for r in runner.gh_world()["check_runs"]] == [
        reviewed.outputs["plan-hash"]
    ]
    _merged(runner)
    applied = runner.run(
        {**inputs, "command": "apply", "comment": "false"}, PUSH_EVENT, sha=MERGE_SHA
    )
    assert applied.succeeded, [s.stdout + s.stderr for s in applied.steps]
    assert applied.outputs["failure-reason"] == "" and sandbox.write_requests


@pytest.mark.slow
def test_without_comments_or_check_runs_apply_refuses_with_its_own_reason(world):
    runner, sandbox, inputs = world
    world_state = runner.gh_world()
    world_state["checks_writable"] = False
    runner.set_gh_world(world_state)
    reviewed = runner.run({**inputs, "command": "plan", "comment": "false"}, PR_EVENT)
    assert reviewed.succeeded
    assert any(
        "no-reviewed-plan" in step.stdout for step in reviewed.steps
    )  # warned at review time
    _merged(runner)
    refused = runner.run(
        {**inputs, "command": "apply", "comment": "false"}, PUSH_EVENT, sha=MERGE_SHA
    )
    assert (
        refused.outputs["failure-reason"] == "no-reviewed-plan"
        and refused.outputs["exit-code"] == "1"
    )
    assert sandbox.write_requests == []


def test_drift_opens_updates_and_closes_one_issue(world):
    runner, sandbox, inputs = world
    first = runner.run({**inputs, "command": "drift"}, SCHEDULE_EVENT)
    assert first.succeeded, [s.stderr for s in first.steps]
    assert first.outputs["changes"] == "true" and first.outputs["failure-reason"] == "drift"
    assert first.outputs["exit-code"] == "2"
    issues = runner.gh_world()["issues"]
    assert [(i["title"], i["open"]) for i in issues] == [(DRIFT_ISSUE_TITLE, True)]
    assert "ravi.patel@acme.example" in issues[0]["body"]
    assert (
        "c3RyYXlfa2V5X2J5X2hhbmQ" in issues[0]["body"]
    )  # a hand-made key in a file that lists keys
    body = issues[0]["body"]
    assert (
        "#### Spend" in body
        and "`ci-pipeline`" in body
        and "commit: 9" not in body.split("#### Spend")[0]
    )
    assert "projected" in body.split("#### Spend")[1]  # the commit's projection rides along
    # drift lasts, and changes shape: the same issue is updated
    sandbox.state.organizations[DEMO_ORG_ID].members[b64id("user_oscar_d")] = "MEMBER"
    second = runner.run({**inputs, "command": "drift"}, SCHEDULE_EVENT)
    assert second.succeeded
    issues = runner.gh_world()["issues"]
    assert len(issues) == 1 and "oscar.diaz@acme.example" in issues[0]["body"]
    # someone fixes the organization: the issue is closed
    org = sandbox.state.organizations[DEMO_ORG_ID]
    del org.members[b64id("user_oscar_d")]
    del org.members[b64id("user_ravi_p")]
    org.members[b64id("user_liwei")] = "OWNER"
    org.api_keys["a2V5X29sZF9wcm90b3R5cGU"].status = "DISABLED"
    org.api_keys["c3RyYXlfa2V5X2J5X2hhbmQ"].status = "DISABLED"
    third = runner.run({**inputs, "command": "drift"}, SCHEDULE_EVENT)
    assert third.succeeded
    assert third.outputs["changes"] == "false" and third.outputs["failure-reason"] == ""
    issues = runner.gh_world()["issues"]
    assert len(issues) == 1 and issues[0]["open"] is False and issues[0]["comments"]
    assert sandbox.write_requests == []  # drift never writes
    _assert_token_nowhere(runner, third)


@pytest.mark.parametrize("alert_at,code", [("99%", "0"), ("50%", "2")])
def test_usage_step_reports_spend_and_alerts_on_the_projection(world, alert_at, code):
    runner, sandbox, inputs = world
    run = runner.run({**inputs, "command": "usage", "alert-at": alert_at}, SCHEDULE_EVENT)
    assert run.outputs["exit-code"] == code
    assert run.outputs["spend-alert"] == ("true" if code == "2" else "false")
    assert run.succeeded is (code == "0")
    summary = runner.summary.read_text()
    assert "### ideogram-org usage" in summary and "`ci-pipeline`" in summary
    assert sandbox.write_requests == []
    _assert_token_nowhere(runner, run)


def test_multiline_outputs_use_a_random_delimiter(world):
    runner, _sandbox, inputs = world
    run = runner.run({**inputs, "command": "plan", "comment": "false"}, PR_EVENT)
    raw = (runner.runner_temp / f"output-{runner.run_number}-2").read_text()
    delimiters = [line.split("<<", 1)[1] for line in raw.splitlines() if "<<" in line]
    assert delimiters and len(set(delimiters)) == len(delimiters)
    assert all(d.startswith("ghadelimiter_") and len(d) > 20 for d in delimiters)
    assert run.outputs["plan-hash"]
    # comment: false: no comment, only the check run that records the plan's hash
    assert [call["args"][3] for call in runner.gh_calls()] == ["repos/acme/org-config/check-runs"]


def test_a_bad_token_is_an_error_output_not_a_traceback(world):
    runner, _sandbox, inputs = world
    run = runner.run({**inputs, "token": "wrong-token", "command": "plan"}, PR_EVENT)
    assert not run.succeeded
    assert run.outputs["failure-reason"] == "error" and run.outputs["exit-code"] == "1"
    assert "::error::" in run.steps[-1].stdout and "Traceback" not in run.steps[-1].stderr


def test_workflow_commands_keep_server_text_on_one_line() -> None:
    """A message quoting a server cannot start a workflow command of its own, nor drive the log."""
    from reconciler.render.workflow import workflow_command

    line = workflow_command("error", "bad\r\n::add-mask::x 100% \x1b[2J")
    assert line == "::error::bad%0D%0A::add-mask::x 100%25 \\x1b[2J"
    assert "\n" not in line and "\r" not in line and "\x1b" not in line


def test_apply_with_only_blocked_items_left_does_not_say_the_organization_matches(world):
    """A demotion the API cannot make stays blocked: the summary says so, as drift would."""
    runner, sandbox, inputs = world
    assert runner.run({**inputs, "command": "plan"}, PR_EVENT).succeeded
    world_state = runner.gh_world()
    world_state["pulls"] = {MERGE_SHA: [7]}
    world_state["heads"] = {"7": PR_EVENT["pull_request"]["head"]["sha"]}
    runner.set_gh_world(world_state)
    first = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    assert first.succeeded
    config = runner.workdir / "ideogram-org.yaml"
    runner.summary.unlink(missing_ok=True)
    # the file now names a key that does not exist: no call can make it so
    text = config.read_text()
    config.write_text(
        text.replace("    api_keys:\n", "    api_keys:\n      ghost: {id: Z2hvc3Q}\n")
    )
    again = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA)
    summary = runner.summary.read_text()
    assert "The organization matches the file" not in summary
    assert "blocked item(s) remain" in summary, summary
    assert again.outputs.get("exit-code") in ("0", "1")


NEW_KEY = "      design-team:\n        deliver_to:\n{sinks}"


def _add_key(runner, sinks: str) -> None:
    path = runner.workdir / "ideogram-org.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("    api_keys:\n", "    api_keys:\n" + NEW_KEY.format(sinks=sinks))
    )


def test_a_merged_pull_request_creates_a_key_and_delivers_it_to_a_github_secret(world):
    """On the pull request the comment says where the new key's secret goes; on merge the key is
    created, sealed to the repository's public key, PUT through GitHub's API (a fake that opens
    the box: it holds the very secret Ideogram issued), and bound on the state branch; the secret
    is in no step's output, no file of the checkout, and nowhere on the state branch."""
    runner, sandbox, inputs = world
    _add_key(runner, "          - github_secret: {repository: acme/app, name: DESIGN_KEY}\n")
    with fake_github() as (github, github_url):
        runner.api_url = github_url
        reviewed = runner.run({**inputs, "command": "plan"}, PR_EVENT)
        assert reviewed.succeeded, [s.stderr for s in reviewed.steps]
        comment = runner.gh_world()["comments"]["7"][0]["body"]
        assert "+ key design-team  create a new key; secret to github_secret DESIGN_KEY of " in (
            comment
        )
        _merged(runner)
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        applied = runner.run(
            {**inputs, "command": "apply", "secrets-token": GITHUB_TOKEN},
            PUSH_EVENT,
            sha=MERGE_SHA,
        )
        assert applied.succeeded, [s.stdout + s.stderr for s in applied.steps]
        keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys
        (made,) = [k for k in keys.values() if k.api_key_id not in before]
        secret = sandbox.issued_secrets[made.api_key_id]
        assert github.value("/repos/acme/app/actions/secrets/DESIGN_KEY") == secret
    assert made.status == "ACTIVE" and applied.outputs["failure-reason"] == ""
    chain = git("--git-dir", str(runner.origin), "show", "ideogram-org-state:audit.jsonl")
    bound = [json.loads(line) for line in chain.splitlines() if '"key.bound"' in line]
    assert bound[-1]["keys"][0]["api_key_id"] == made.api_key_id
    assert bound[-1]["keys"][0]["fingerprint"].startswith("sha256:")
    everything = chain + json.dumps(applied.outputs) + runner.summary.read_text()
    everything += "".join(s.stdout + s.stderr for s in applied.steps)
    # the mask command itself is how the runner learns what to hide
    everything = everything.replace(f"::add-mask::{GITHUB_TOKEN}", "")
    assert secret not in everything and GITHUB_TOKEN not in everything
    for path in runner.workdir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    _assert_token_nowhere(runner, applied)


def test_a_key_the_runner_cannot_deliver_fails_the_plan_on_the_pull_request(world):
    runner, sandbox, inputs = world
    _add_key(runner, "          - file: {path: secrets.jsonl}\n")
    refused = runner.run({**inputs, "command": "plan"}, PR_EVENT)
    assert not refused.succeeded
    assert refused.outputs["failure-reason"] == "key-not-deliverable"
    assert "file secrets.jsonl, which a runner throws away" in refused.steps[-1].stdout
    comment = runner.gh_world()["comments"]["7"][0]["body"]
    assert "A new key's secret would have nowhere to go from the runner" in comment
    assert sandbox.write_requests == []


def test_the_scheduled_rotate_command_rotates_a_due_key_and_nothing_else(world):
    """ci-pipeline (created 2025-03-14) with `rotate: {every: 90d, overlap: 7d}` is due: the
    scheduled run creates its successor and delivers it; the file's other differences (an add, a
    removal) wait for a reviewed pull request."""
    runner, sandbox, inputs = world
    path = runner.workdir / "ideogram-org.yaml"
    path.write_text(
        path.read_text().replace(
            "      ci-pipeline:\n        id: 3q2-7wAAQkKpYXNzd29yZA\n",
            "      ci-pipeline:\n        id: 3q2-7wAAQkKpYXNzd29yZA\n"
            "        rotate: {every: 90d, overlap: 7d}\n"
            "        deliver_to: [{github_secret: {repository: acme/app, name: CI_KEY}}]\n",
        )
    )
    with fake_github() as (github, github_url):
        runner.api_url = github_url
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        rotated = runner.run(
            {**inputs, "command": "rotate", "secrets-token": GITHUB_TOKEN}, SCHEDULE_EVENT
        )
        assert rotated.succeeded, [s.stdout + s.stderr for s in rotated.steps]
        keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys
        (made,) = [k for k in keys.values() if k.api_key_id not in before]
        assert (
            github.value("/repos/acme/app/actions/secrets/CI_KEY")
            == (sandbox.issued_secrets[made.api_key_id])
        )
    assert keys["3q2-7wAAQkKpYXNzd29yZA"].status == "ACTIVE"  # the predecessor: overlap
    assert [w.operation for w in sandbox.write_requests] == [CREATE_KEY.operation_id]
    assert "phase 1 of 2" in runner.summary.read_text()


WATCHED = (
    "      ci-pipeline:\n        id: 3q2-7wAAQkKpYXNzd29yZA\n"
    "        budget: {daily: 100000, action: deactivate}\n"  # only the spike can see this budget
)


def _with_notify_and_budget(runner) -> None:
    path = runner.workdir / "ideogram-org.yaml"
    text = path.read_text().replace(
        "      ci-pipeline:\n        id: 3q2-7wAAQkKpYXNzd29yZA\n", WATCHED
    )
    text = text.replace(
        "policy:\n",
        "notify:\n  - webhook: {url_env: IDEOGRAM_ORG_WEBHOOK}\n"
        "policy:\n  anomaly: {factor: 5, baseline_days: 14, min_amount: 5}\n",
        1,
    )
    path.write_text(text)


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def _events(receiver) -> list[dict]:
    schema = json.loads((ROOT / "schemas" / "event.schema.json").read_text())
    for event in receiver.bodies["/hook"]:
        jsonschema.validate(event, schema)
    return receiver.bodies["/hook"]


def test_the_hourly_watch_contains_a_spiking_key_and_tells_the_receivers(world, receiver):
    """The scheduled `watch`: a key spending ten times its usual hour, whose budget says
    `action: deactivate`, is deactivated in the same run (audited on the state branch), the run
    fails with exit 2 and the webhook hears of it once; the next hour is quiet."""
    runner, sandbox, inputs = world
    _with_notify_and_budget(runner)
    job_env = {"IDEOGRAM_ORG_WEBHOOK": receiver.url + "/hook"}
    quiet = runner.run({**inputs, "command": "watch"}, SCHEDULE_EVENT, job_env=job_env)
    assert quiet.succeeded and quiet.outputs["exit-code"] == "0", quiet.steps[-1].stderr
    add_spike(sandbox.state, "3q2-7wAAQkKpYXNzd29yZA", factor=10, hours=1)
    watched = runner.run({**inputs, "command": "watch"}, SCHEDULE_EVENT, job_env=job_env)
    assert not watched.succeeded  # findings fail the scheduled run, which tells its owner
    assert (watched.outputs["exit-code"], watched.outputs["failure-reason"]) == ("2", "budget")
    key = sandbox.state.organizations[DEMO_ORG_ID].api_keys["3q2-7wAAQkKpYXNzd29yZA"]
    assert key.status == "DISABLED"
    assert [w.operation for w in sandbox.write_requests] == [DEACTIVATE_KEY.operation_id]
    chain = git("--git-dir", str(runner.origin), "show", "ideogram-org-state:audit.jsonl")
    assert "key.deactivate" in chain
    summary = runner.summary.read_text()
    assert "ci-pipeline" in summary and "3q2-7wAAQkKpYXNzd29yZA" not in summary
    events = _events(receiver)
    finding, containment = events  # the finding, then what was done about it
    assert (finding["kind"], finding["details"]["finding"]) == ("budget", "anomaly")
    assert containment["summary"] == "acme: key ci-pipeline deactivate: done"
    assert "3q2-7wAAQkKpYXNzd29yZA" not in json.dumps(events)
    after = runner.run({**inputs, "command": "watch"}, SCHEDULE_EVENT, job_env=job_env)
    assert after.succeeded and after.outputs["exit-code"] == "0"  # a DISABLED key is not watched
    assert len(_events(receiver)) == 2
    _assert_token_nowhere(runner, watched)


def test_apply_on_merge_tells_the_receivers_once(world, receiver):
    runner, sandbox, inputs = world
    _with_notify_and_budget(runner)
    job_env = {"IDEOGRAM_ORG_WEBHOOK": receiver.url + "/hook"}
    reviewed = runner.run({**inputs, "command": "plan"}, PR_EVENT, job_env=job_env)
    assert reviewed.succeeded
    _merged(runner)
    applied = runner.run({**inputs, "command": "apply"}, PUSH_EVENT, sha=MERGE_SHA, job_env=job_env)
    assert applied.succeeded, [s.stdout + s.stderr for s in applied.steps]
    [event] = _events(receiver)  # plan tells nobody; apply once
    assert event["kind"] == "apply"
    assert event["details"]["plan_hash"] == applied.outputs["plan-hash"]
    assert event["details"]["audit_head"] == applied.outputs["audit-head"]
    assert TOKEN not in json.dumps(event)
