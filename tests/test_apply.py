"""apply end to end over loopback HTTP: order, batching, dry-run, stale plans, safety, keys,
audit."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import jsonschema
import pytest

from reconciler.api.endpoints import BY_OPERATION, GET_MEMBERS
from reconciler.sandbox import Faults
from reconciler.sandbox.app import WriteRequest
from reconciler.store.audit import verify_log
from tests.scenario import TOKEN, cli, scenario, served, write_file

ORDER = [
    "add_organization_members",
    "promote_organization_members",
    "create_api_key_v2",
    "remove_organization_members",
    "deactivate_organization_api_key",
]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_apply_converges_in_order_without_dipping_below_min_owners(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(
            url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "new-keys.jsonl"
        )
        assert result.exit_code == 0, result.output
        assert "Verification read: the organization matches the file." in result.stdout
        operations = [w.operation for w in sandbox.write_requests]
        ranks = [ORDER.index(op) for op in operations]
        assert ranks == sorted(ranks), operations  # add, promote, create, remove, deactivate
        assert (
            operations.count("add_organization_members") == 1
        )  # one call per kind per organization
        assert operations.count("promote_organization_members") == 1
        assert operations.count("remove_organization_members") == 2  # members first, then the owner
        assert sandbox.min_owners_seen(s.org_id) >= s.min_owners
        again = cli(url, "plan", "-c", str(path), "--detailed-exitcode")
        assert again.exit_code == 0, again.output


def test_dry_run_prints_the_calls_and_sends_no_write(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--dry-run")
        assert result.exit_code == 0, result.output
        assert sandbox.write_requests == [] and sandbox.mutations == []
    out = result.stdout
    assert "POST /manage/api/organization/add_members?organization_id=" in out
    assert '"email_address": "IVAN.NAKAMURA30@ACME.EXAMPLE"' in out
    assert "POST /manage/api/api_keys_v2?organization_id=" in out
    assert TOKEN not in result.output
    assert not Path("ideogram-org.audit.jsonl").exists()


def _as_sent(write: WriteRequest) -> str:
    endpoint = BY_OPERATION[write.operation]
    query = "&".join(f"{k}={v}" for k, v in write.query.items())
    line = f"{endpoint.method} {endpoint.path}?{query}"
    return f"{line} {json.dumps(write.body)}" if write.body is not None else line


def test_the_dry_run_lists_the_calls_the_run_sends_in_order_and_number(here, api_version):
    """One call program: what the dry run prints is what apply sends, and what progress counts."""
    s = scenario(api_version)
    s.state.inflight_limit = 1  # one call at a time, so the order is exact
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        dry = cli(
            url, "apply", "-c", str(path), "--dry-run", "--chunk-size", "2", "--output", "json"
        )
        planned = json.loads(dry.stdout)["calls"]
        result = cli(
            url,
            "apply",
            "-c",
            str(path),
            "--auto-approve",
            "--chunk-size",
            "2",
            "--secrets-file",
            "keys.jsonl",
        )
        sent = [_as_sent(w) for w in sandbox.write_requests]
    assert result.exit_code == 0, result.output
    assert len(planned) >= 10 and sent == planned
    counted = re.findall(r"^\[(\d+)/(\d+)\]", result.stderr, re.M)
    assert counted[-1] == (str(len(sent)), str(len(sent)))
    assert all(int(done) <= int(total) for done, total in counted)


def test_without_a_terminal_apply_needs_auto_approve(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path))
        assert result.exit_code == 1
        assert "--auto-approve" in result.stderr
        assert sandbox.write_requests == []


def test_a_saved_plan_is_applied_exactly(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        assert cli(url, "plan", "-c", str(path), "--out", "plan.json").exit_code == 0
        planned = json.loads(Path("plan.json").read_text())
        sandbox.requests.clear()
        result = cli(url, "apply", "plan.json", "--secrets-file", "keys.jsonl")
        assert result.exit_code == 0, result.output
        applied = [line for line in result.stdout.splitlines() if line.startswith("applied")]
        assert len(applied) == len(planned["changes"])
        first_write = next(i for i, (method, _) in enumerate(sandbox.requests) if method == "POST")
        reads = sandbox.requests[:first_write].count(("GET", GET_MEMBERS.path))
    # one read, under the lock, both judges the saved plan afresh and guards the writes
    assert reads == 1, sandbox.requests


def test_stale_plan_when_the_organization_changed(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        cli(url, "plan", "-c", str(path), "--out", "plan.json")
        someone = next(
            uid for uid in s.state.users if uid not in s.state.organizations[s.org_id].members
        )
        s.state.organizations[s.org_id].members[someone] = "MEMBER"  # changed by hand meanwhile
        result = cli(url, "apply", "plan.json", "--secrets-file", "keys.jsonl")
        assert result.exit_code == 1
        assert "stale plan, nothing was sent" in result.stderr
        before = len(s.state.organizations[s.org_id].members) - 1
        assert f"acme: members_before {before} -> {before + 1}" in result.stderr
        email = s.state.users[
            someone
        ].email_address  # the file lists them: the plan's change for them moved
        assert (
            f"no longer needed: member.add {email}" in result.stderr
            or f"needed now, not in the saved plan: member.promote {email}" in result.stderr
        )
        assert sandbox.write_requests == []


def test_stale_plan_when_the_file_changed(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        cli(url, "plan", "-c", str(path), "--out", "plan.json")
        path.write_text(s.text.replace("max_removals: 50%", "max_removals: 49%"))  # it says more
        result = cli(url, "apply", "plan.json", "--secrets-file", "keys.jsonl")
        assert result.exit_code == 1
        assert (
            "desired file" in result.stderr and "changed since the plan was made" in result.stderr
        )
        assert sandbox.write_requests == []


def test_unsafe_plan_is_refused_unless_approved_by_hash(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text.replace("max_removals: 50%", "max_removals: 2"))
    with served(s.state) as (sandbox, url):
        refused = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert refused.exit_code == 1 and "the plan is unsafe" in refused.stderr
        assert sandbox.write_requests == []
        wrong = cli(
            url,
            "apply",
            "-c",
            str(path),
            "--auto-approve",
            "--secrets-file",
            "k.jsonl",
            "--allow-unsafe",
            "deadbeefdeadbeef",
        )
        assert wrong.exit_code == 1 and "does not match" in wrong.stderr
        assert sandbox.write_requests == []
        plan = json.loads(cli(url, "plan", "-c", str(path), "--output", "json").stdout)
        approved = cli(
            url,
            "apply",
            "-c",
            str(path),
            "--auto-approve",
            "--secrets-file",
            "k.jsonl",
            "--allow-unsafe",
            plan["plan_hash"][:8],
        )
        assert approved.exit_code == 0, approved.output


def test_partial_failure_reports_items_skips_dependents_and_a_rerun_finishes(here):
    s = scenario("2026-06")
    # Seed 14 makes two of the six additions fail every time (ivan.nakamura30 and jun.adams35); ivan
    # is
    # listed as OWNER, so his promotion must be skipped. Then apply again without faults.
    with served(
        s.state,
        Faults(
            seed=14, member_failure_rate=0.5, operations=frozenset({"add_organization_members"})
        ),
    ) as (sandbox, url):
        path = write_file(here, s.text)
        first = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert first.exit_code == 1
        failed = [line for line in first.stdout.splitlines() if line.startswith("failed")]
        assert failed and all("temporary failure" in line for line in failed)
        assert len(failed) == 2 and any("IVAN.NAKAMURA30" in line for line in failed)
        assert any(
            line.startswith("skipped")
            and "IVAN.NAKAMURA30" in line
            and "adding the member failed" in line
            for line in first.stdout.splitlines()
        )
        assert "change(s) remain" in first.stdout
        sandbox.faults.member_failure_rate = 0.0
        second = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert second.exit_code == 0, second.output
        assert "matches the file" in second.stdout
        assert verify_log("ideogram-org.audit.jsonl").problems == []


def test_2025_whole_call_failure_is_split_until_only_the_failing_member_fails(here):
    """2025-10 refuses a member call as a whole (400) for one bad member: apply splits it in halves
    and
    sends each again, so everyone else is added in the same run."""
    s = scenario("2025-10")
    text = s.text.replace("rosa.costa31@acme.example", "nobody-at-all@acme.example")
    with served(s.state) as (sandbox, url):
        path = write_file(here, text)
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert result.exit_code == 1
        add_lines = [line for line in result.stdout.splitlines() if "member.add" in line]
        failed = [line for line in add_lines if line.startswith("failed")]
        assert len(failed) == 1 and "nobody-at-all@acme.example" in failed[0]
        assert "no Ideogram user matches" in failed[0]
        assert len(add_lines) - 1 == sum(
            1 for m in sandbox.mutations if m.operation == "add_organization_members"
        )
        add_calls = [w for w in sandbox.write_requests if w.operation == "add_organization_members"]
        assert (
            len(add_calls) <= 1 + 2 * 3
        )  # one call, then at most two per level of halving 6 members
    records = [
        json.loads(line) for line in Path("ideogram-org.audit.jsonl").read_text().splitlines()
    ]
    assert any(r.get("message") == "refused as a whole; split in halves" for r in records)


def test_batching_1000_additions_in_10_calls(here):
    from reconciler.sandbox import generate_state

    state = generate_state(members=2, keys=0, seed=1, org_name="acme", outsiders=1000)
    org = next(iter(state.organizations.values()))
    newcomers = [u for uid, u in state.users.items() if uid not in org.members]
    lines = [
        "version: 1",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in org.members]
    lines += [f"      - email: {u.email_address}" for u in newcomers]
    with served(state) as (sandbox, url):
        path = write_file(here, "\n".join(lines) + "\n")
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--output", "json")
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)  # stdout stays clean JSON; progress went to stderr
        assert report["counts"]["applied"] == 1000
        assert [w.operation for w in sandbox.write_requests] == ["add_organization_members"] * 10
        assert "[10/10] member.add acme: 100 member(s)" in result.stderr


def test_key_creation_writes_secret_0600_and_id_back_byte_for_byte(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(
            url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "new-keys.jsonl"
        )
        assert result.exit_code == 0, result.output
    secrets = [json.loads(line) for line in Path("new-keys.jsonl").read_text().splitlines()]
    assert sorted(s_["label"] for s_ in secrets) == ["batch", "reporting"]
    assert stat.S_IMODE(os.stat("new-keys.jsonl").st_mode) == 0o600
    new_text = path.read_text()
    ids = {entry["label"]: entry["api_key_id"] for entry in secrets}
    expected = s.text.replace(
        "      reporting:\n        # a new key for the BI team\n",
        f"      reporting:\n        # a new key for the BI team\n        id: {ids['reporting']}\n",
    )
    expected = expected.replace(
        "      batch: {status: ACTIVE}", f"      batch: {{id: {ids['batch']}, status: ACTIVE}}"
    )
    assert new_text == expected
    for entry in secrets:  # the secret is nowhere but the secrets file
        assert entry["api_key"] not in result.output and entry["api_key"] not in new_text
        assert entry["api_key"] not in Path("ideogram-org.audit.jsonl").read_text()


def test_key_creation_needs_a_secrets_file_before_anything_is_sent(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve")
        assert result.exit_code == 1 and "--secrets-file" in result.stderr
        assert sandbox.write_requests == []


def test_payment_required_is_a_clear_failure(here, api_version):
    s = scenario(api_version)
    s.state.organizations[s.org_id].payment_required = True
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
    assert result.exit_code == 1
    assert any(
        line.startswith("failed") and "key.create" in line and "payment is required" in line
        for line in result.stdout.splitlines()
    )


def test_ambiguous_write_is_re_read_not_resent(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    faults = Faults(drop_rate=1.0, operations=frozenset({"promote_organization_members"}))
    with served(s.state, faults) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert result.exit_code == 0, result.output
        promotes = [
            w for w in sandbox.write_requests if w.operation == "promote_organization_members"
        ]
        assert len(promotes) == 1  # dropped after doing the work, then confirmed by re-reading
        assert "confirmed by re-reading" in result.stdout
        assert sandbox.min_owners_seen(s.org_id) >= 2


def test_a_member_caller_is_refused_before_any_write(here, api_version):
    s = scenario(api_version)
    org = s.state.organizations[s.org_id]
    org.members[s.state.caller_user_id] = "MEMBER"
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
        assert result.exit_code == 1
        # once, in the plan, which apply shows on stdout, where its results go
        assert "you are MEMBER of acme; only an OWNER can change it" in result.stdout
        assert result.stdout.count("only an OWNER") == len(
            json.loads(cli(url, "plan", "-c", str(path), "--output", "json").stdout)["blocked"]
        )
        assert "Nothing to apply." in result.stderr and "blocked item(s) remain" in result.stderr
        assert sandbox.write_requests == []


def test_key_deactivations_run_concurrently_up_to_the_inflight_limit(here, api_version):
    """Ten deactivations must be in flight at once (a barrier of ten parties lets none through
    until ten have arrived), and never an eleventh: the sandbox would answer it 429."""
    import threading

    from reconciler.sandbox import generate_state

    state = generate_state(
        members=2, keys=40, seed=2, org_name="acme", inflight_limit=10, api_version=api_version
    )
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
    barrier = threading.Barrier(10, timeout=10)
    broken: list[str] = []
    with served(state) as (sandbox, url):
        original = sandbox.handle

        def gathered(method, path, *args, **kwargs):
            if path.endswith("/deactivate_api_key"):
                try:
                    barrier.wait()
                except threading.BrokenBarrierError:
                    broken.append(path)
            return original(method, path, *args, **kwargs)

        sandbox.handle = gathered
        path = write_file(here, "\n".join(lines) + "\n")
        result = cli(url, "apply", "-c", str(path), "--auto-approve")
        assert result.exit_code == 0, result.output
        deactivations = [
            w for w in sandbox.write_requests if w.operation == "deactivate_organization_api_key"
        ]
        assert len(deactivations) == 40 and all(w.status == 204 for w in deactivations)
        assert broken == []  # ten at once, every time
        assert sandbox.refused_over_limit == 0  # and never more than ten


def test_member_calls_of_one_kind_run_concurrently_but_owner_removals_one_at_a_time(
    here, api_version
):
    """Forty one-member removal calls go out ten at a time (a barrier of ten lets none through until
    ten have arrived); the two owner removals go alone, each after a read, and owners never fall
    below min_owners while they do."""
    import json as json_module
    import threading

    from reconciler.sandbox import generate_state

    state = generate_state(
        members=52,
        keys=0,
        seed=3,
        org_name="acme",
        inflight_limit=10,
        owners=4,
        api_version=api_version,
    )
    org = next(iter(state.organizations.values()))
    uids = list(org.members)
    lines = [
        "version: 1",
        "policy: {max_removals: 100%, min_owners: 2}",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in uids[:2]]
    lines += [f"      - {{user_id: {uid}}}" for uid in uids[4:12]]
    barrier = threading.Barrier(10, timeout=10)
    broken: list[str] = []
    owner_calls_in_flight: list[int] = [0]
    overlaps: list[int] = []
    owners_seen: list[int] = []
    with served(state) as (sandbox, url):
        original = sandbox.handle

        def gathered(method, path, query, headers, body, *args, **kwargs):
            if not path.endswith("/remove_members"):
                return original(method, path, query, headers, body, *args, **kwargs)
            named = [m.get("user_id") for m in json_module.loads(body)["members"]]
            if any(org.members.get(uid) == "OWNER" for uid in named):
                owner_calls_in_flight[0] += 1
                overlaps.append(owner_calls_in_flight[0])
                try:
                    return original(method, path, query, headers, body, *args, **kwargs)
                finally:
                    owner_calls_in_flight[0] -= 1
                    owners_seen.append(org.owners())
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                broken.append(path)
            return original(method, path, query, headers, body, *args, **kwargs)

        sandbox.handle = gathered
        path = write_file(here, "\n".join(lines) + "\n")
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--chunk-size", "1")
        assert result.exit_code == 0, result.output
        removals = [
            w for w in sandbox.write_requests if w.operation == "remove_organization_members"
        ]
        assert len(removals) == 40 + 2
        assert broken == []  # ten member removals in flight at once, every time
        assert sandbox.refused_over_limit == 0  # and never an eleventh
        assert overlaps == [1, 1] and owners_seen == [3, 2]  # owners one by one, never below 2
        assert len(org.members) == 10 and org.owners() == 2


@pytest.mark.parametrize(
    "answer,applied", [("yes\n", True), ("y\n", False), ("n\n", False), ("\n", False)]
)
def test_on_a_terminal_apply_asks_for_the_word_yes(here, monkeypatch, answer, applied):
    """As Terraform: only `yes` applies; a stray `y` (or Enter) sends nothing."""
    monkeypatch.setattr("reconciler.cli.common.stdin_is_terminal", lambda: True)
    s = scenario("2026-06")
    path = write_file(here, s.text)
    with served(s.state) as (sandbox, url):
        result = cli(url, "apply", "-c", str(path), "--secrets-file", "k.jsonl", input=answer)
        assert "Apply these" in result.stderr and "Only 'yes' is accepted" in result.stderr
        assert "irreversible" in result.stderr  # the scenario promotes and deactivates
        assert bool(sandbox.write_requests) is applied
        assert result.exit_code == (0 if applied else 1)
        if not applied:
            assert "Nothing was applied." in result.stderr


def test_a_plan_file_edited_to_look_safe_is_still_refused(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text.replace("max_removals: 50%", "max_removals: 2"))
    with served(s.state) as (sandbox, url):
        assert cli(url, "plan", "-c", str(path), "--out", "plan.json").exit_code == 1  # unsafe
        document = json.loads(Path("plan.json").read_text())
        assert document["violations"]
        document["violations"] = []  # the changes, and so the hash, are untouched
        Path("plan.json").write_text(json.dumps(document))
        result = cli(url, "apply", "plan.json", "--secrets-file", "k.jsonl")
        assert result.exit_code == 1 and "the plan is unsafe" in result.stderr
        assert sandbox.write_requests == []


def test_a_secrets_file_readable_by_others_is_refused_before_any_write(here, api_version):
    s = scenario(api_version)
    path = write_file(here, s.text)
    Path("shared.jsonl").write_text("")
    os.chmod("shared.jsonl", 0o644)
    with served(s.state) as (sandbox, url):
        result = cli(
            url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "shared.jsonl"
        )
        assert result.exit_code == 1 and "readable by others" in result.stderr
        assert sandbox.write_requests == []


# --- the core owns safety; one JSON shape -------------------------------------------------------

APPLY_SCHEMA = json.loads(
    (Path(__file__).parent.parent / "schemas" / "apply.schema.json").read_text()
)


def test_the_service_refuses_an_unsafe_plan_without_an_approval(here, api_version):
    """Called directly, as any front end would: the safety gate is in the service, not the CLI."""
    from reconciler import service
    from reconciler.api.client import ApiClient
    from reconciler.config.loader import load_config
    from reconciler.errors import UnsafePlanError
    from reconciler.model.plan import AllowUnsafe, NoApproval, ReviewedPlan
    from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport

    s = scenario(api_version)
    path = write_file(here, s.text.replace("  max_removals: 50%", "  max_removals: 0"))
    sandbox = Sandbox(s.state)
    with ApiClient(SANDBOX_BASE_URL, s.state.token, transport=SandboxTransport(sandbox)) as client:
        planned = service.plan(client, load_config(path))
        assert not planned.plan.safe
        options = service.ApplyOptions(audit_log="audit.jsonl", secrets_file="keys.jsonl")
        for approval in (NoApproval(), ReviewedPlan(planned.plan.plan_hash), AllowUnsafe("0" * 12)):
            with pytest.raises(UnsafePlanError):
                service.apply(client, planned, options, approval)
        assert sandbox.write_requests == []
        report = service.apply(client, planned, options, AllowUnsafe(planned.plan.plan_hash[:12]))
    assert report.failed is False and sandbox.write_requests


def test_the_json_report_has_one_shape_for_a_run_a_dry_run_and_nothing_to_do(here, api_version):
    from reconciler.model.report import apply_json_schema

    assert apply_json_schema() == APPLY_SCHEMA, (
        "run `ideogram-org apply-schema > schemas/apply.schema.json`"
    )
    s = scenario(api_version)
    path = write_file(here, s.text)
    with served(s.state) as (_, url):
        args = ("apply", "-c", str(path), "--output", "json", "--secrets-file", "keys.jsonl")
        dry = json.loads(cli(url, *args, "--dry-run").stdout)
        run = json.loads(cli(url, *args, "--auto-approve").stdout)
        nothing = json.loads(cli(url, *args, "--auto-approve").stdout)
    for document in (dry, run, nothing):
        jsonschema.validate(document, APPLY_SCHEMA)
        assert document.keys() == run.keys()
    assert dry["dry_run"] and dry["calls"] and not dry["verification"]["made"]
    assert run["verification"] == {
        "made": True,
        "remaining_changes": 0,
        "remaining_blocked": 0,
        "error": None,
        "converged": True,
    }
    secrets = [json.loads(line)["api_key"] for line in Path("keys.jsonl").read_text().splitlines()]
    assert run["new_keys"] and secrets and not any(secret in json.dumps(run) for secret in secrets)
    assert nothing["results"] == [] and nothing["verification"]["converged"]


def test_apply_c_plans_under_the_lock_and_does_not_refuse_its_own_plan(here, api_version):
    """`apply -c` reads and plans under the lock, as Terraform plans under its state lock: a write
    that lands while the user reads the plan (one still in flight from a killed run) does not make
    it refuse the plan it just showed; it reads the organization once before writing."""
    from reconciler import service
    from reconciler.api.client import ApiClient
    from reconciler.config.loader import load_config
    from reconciler.model.plan import NoApproval
    from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport

    s = scenario(api_version)
    path = write_file(here, s.text)
    sandbox = Sandbox(s.state)
    late = next(uid for uid in s.state.users if uid not in s.state.organizations[s.org_id].members)

    def review(planned: service.Planned) -> NoApproval:
        s.state.organizations[s.org_id].members[late] = "MEMBER"  # lands during the prompt
        return NoApproval()

    options = service.ApplyOptions(audit_log="audit.jsonl", secrets_file="keys.jsonl")
    with ApiClient(SANDBOX_BASE_URL, s.state.token, transport=SandboxTransport(sandbox)) as client:
        planned, report = service.apply_config(client, load_config(path), (), options, review)
        reads = client.calls["get_organization_members"]
    assert report.failed is False and sandbox.write_requests
    assert len(report.results) == len(planned.plan.changes)
    # the plan under the lock, the owner count before the owner removal, the verification
    assert reads == 3
