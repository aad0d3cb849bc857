"""`plan` and `export` end to end on the sandbox: renderers, exit codes, plan files, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.defaults import MARKDOWN_LIMIT
from reconciler.model.plan import plan_json_schema
from reconciler.render.markdown import render_markdown
from reconciler.render.plan import render_text
from reconciler.sandbox.demo import demo_state
from reconciler.store.plan_file import load_plan

ROOT = Path(__file__).resolve().parent.parent
ACME = str(ROOT / "examples" / "acme" / "ideogram-org.yaml")
PLAN_SCHEMA = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())


@pytest.fixture
def workdir(tmp_path, monkeypatch, api_version):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IDEOGRAM_TOKEN", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    demo_state(api_version).save(tmp_path / ".ideogram-sandbox.json")
    return tmp_path


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_plan_on_the_demo_shows_the_telling_differences(workdir):
    result = run("plan", "-c", ACME, "--sandbox")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "+ li.wei@acme.example" in out and "promote to OWNER after adding" in out
    assert "- ravi.patel@acme.example" in out
    assert "- key old-prototype (a2V5X29sZF9wcm90b3R5cGU)" in out
    assert "? key c3RyYXlfa2V5X2J5X2hhbmQ" in out and "unmanaged" in out
    assert "build-bot" not in out  # ignored by the file's policy
    assert (
        "Plan: 1 to add, 1 to promote, 1 to remove, 1 key to deactivate, 0 keys to create, 0 "
        "blocked." in out
    )
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


def test_detailed_exitcode(workdir, tmp_path):
    assert run("plan", "-c", ACME, "--sandbox", "--detailed-exitcode").exit_code == 2
    exported = run("export", "--sandbox", "--org", "acme")
    (tmp_path / "same.yaml").write_text(exported.stdout)
    result = run("plan", "-c", str(tmp_path / "same.yaml"), "--sandbox", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "Plan: 0 to add" in result.stdout


def test_json_output_matches_the_committed_schema(workdir):
    result = run("plan", "-c", ACME, "--sandbox", "--output", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    jsonschema.validate(document, PLAN_SCHEMA)
    assert [c["action"] for c in document["changes"]] == [
        "member.add",
        "member.promote",
        "member.remove",
        "key.deactivate",
    ]
    assert len(document["plan_hash"]) == 64


def test_committed_plan_schema_is_up_to_date():
    assert plan_json_schema() == PLAN_SCHEMA, (
        "run `ideogram-org plan-schema > schemas/plan.schema.json`"
    )


def test_plan_file_holds_what_apply_needs(workdir, tmp_path):
    result = run("plan", "-c", ACME, "--sandbox", "--out", str(tmp_path / "p.json"))
    assert result.exit_code == 0
    saved = load_plan(tmp_path / "p.json")
    jsonschema.validate(json.loads((tmp_path / "p.json").read_text()), PLAN_SCHEMA)
    assert saved.desired_hash and saved.live_fingerprint and saved.tool_version and saved.created_at
    assert "live_snapshot" not in json.loads(
        (tmp_path / "p.json").read_text()
    )  # it grows with changes only
    again = run("plan", "-c", ACME, "--sandbox", "--output", "json")
    assert json.loads(again.stdout)["plan_hash"] == saved.plan_hash  # same inputs, same hash


def test_an_edited_plan_file_is_refused(workdir, tmp_path):
    run("plan", "-c", ACME, "--sandbox", "--out", str(tmp_path / "p.json"))
    data = json.loads((tmp_path / "p.json").read_text())
    data["changes"] = data["changes"][:1]
    (tmp_path / "p.json").write_text(json.dumps(data))
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match="edited"):
        load_plan(tmp_path / "p.json")


def test_markdown_summary_first_and_folded_details(workdir):
    result = run("plan", "-c", ACME, "--sandbox", "--output", "markdown")
    text = result.stdout
    assert text.startswith("<!-- ideogram-org plan: ")
    assert text.index("Plan: 1 to add") < text.index("<details")
    assert "+ li.wei@acme.example" in text


def test_unsafe_plan_is_shown_at_the_top_and_exits_1(workdir, tmp_path):
    text = Path(ACME).read_text().replace("max_removals: 25%", "max_removals: 0")
    (tmp_path / "strict.yaml").write_text(text)
    result = run("plan", "-c", str(tmp_path / "strict.yaml"), "--sandbox")
    assert result.exit_code == 1
    assert result.stdout.startswith("UNSAFE PLAN")
    assert "1 removals exceed max_removals" in result.stdout
    assert "--allow-unsafe" in result.stdout


def test_colour_only_on_request_and_never_with_no_color(workdir, monkeypatch):
    from reconciler import service
    from reconciler.config.loader import load_config
    from reconciler.service.connect import open_api

    with open_api(sandbox=True) as reader:
        plan = service.plan(reader, load_config(ACME)).plan
    assert "\x1b[32m" in render_text(plan, colour=True)
    from reconciler.render.plan import colour_wanted

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    assert colour_wanted(Tty()) is False
    monkeypatch.delenv("NO_COLOR")
    assert colour_wanted(Tty()) is True


def _big_plan(members: int, removed: int, added: int):
    """A plan over a generated organization: the first `removed` plain members left out of the
    file, `added` outsiders put in."""
    from reconciler import service
    from reconciler.config.loader import load_config
    from reconciler.sandbox import generate_state
    from reconciler.service.connect import open_api

    state = generate_state(members=members, keys=0, seed=5, org_name="acme", outsiders=added)
    state.save(".ideogram-sandbox.json")
    org = next(iter(state.organizations.values()))
    uids = list(org.members)
    kept = uids[:2] + uids[2 + removed :]
    outsiders = [uid for uid in state.users if uid not in org.members][:added]
    lines = [
        "version: 1",
        "policy: {max_removals: 100%}",
        "organizations:",
        "  acme:",
        "    members:",
    ]
    lines += [f"      - {{user_id: {uid}, role: OWNER}}" for uid in kept[:2]]
    lines += [f"      - {{user_id: {uid}}}" for uid in kept[2:] + outsiders]
    Path("big.yaml").write_text("\n".join(lines) + "\n")
    with open_api(sandbox=True) as reader:
        return service.plan(reader, load_config("big.yaml")).plan


@pytest.mark.slow
def test_markdown_orders_by_risk_keeps_every_count_and_cuts_the_longest_section_first(workdir):
    plan = _big_plan(members=6000, removed=300, added=4000)
    text = render_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert "300 to remove" in text and "4000 to add" in text  # every count, in the summary
    assert text.index("removals: 300") < text.index("additions: 4000")  # destructive first
    removals = [
        line for line in text.splitlines() if line.startswith("- ") and "remove MEMBER" in line
    ]
    additions = [line for line in text.splitlines() if line.startswith("+ ")]
    assert len(removals) == 300  # every removal fits, because the long additions were cut instead
    assert 0 < len(additions) < 4000
    assert f"... {4000 - len(additions)} more additions not shown" in text


@pytest.mark.slow
def test_markdown_of_a_plan_larger_than_a_comment_keeps_the_counts(workdir):
    plan = _big_plan(members=6000, removed=5000, added=0)
    text = render_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    shown = [
        line for line in text.splitlines() if line.startswith("- ") and "remove MEMBER" in line
    ]
    assert 0 < len(shown) < 5000 and f"... {5000 - len(shown)} more removals not shown" in text


def test_a_large_text_plan_puts_the_summary_first_and_groups_by_kind(workdir):
    plan = _big_plan(members=400, removed=80, added=70)
    text = render_text(plan)
    lines = text.splitlines()
    assert lines[0].startswith("Plan: 70 to add, 0 to promote, 80 to remove")
    assert "  removals: 80" in lines and "  additions: 70" in lines
    assert "    ... and 70 more removals (--full shows every line)" in lines
    assert sum(1 for line in lines if line.startswith("  - ")) == 10
    full = render_text(plan, full=True).splitlines()
    assert sum(1 for line in full if line.startswith("  - ")) == 80
    assert sum(1 for line in full if line.startswith("  + ")) == 70


def test_missing_token_is_a_clear_error_before_any_call(workdir):
    result = CliRunner().invoke(main, ["plan", "-c", ACME], env={"IDEOGRAM_TOKEN": ""})
    assert result.exit_code == 1
    assert "IDEOGRAM_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_plain_http_to_a_remote_host_is_refused(workdir):
    result = CliRunner().invoke(
        main,
        ["plan", "-c", ACME, "--endpoint", "http://api.ideogram.ai"],
        env={"IDEOGRAM_TOKEN": "tok"},
    )
    assert result.exit_code == 1 and "refusing plain http://" in result.stderr


def test_broken_file_fails_before_the_token_is_needed(workdir):
    result = CliRunner().invoke(
        main,
        ["plan", "-c", str(ROOT / "tests/fixtures/invalid/bad_role.yaml")],
        env={"IDEOGRAM_TOKEN": ""},
    )
    assert result.exit_code == 1
    assert "bad_role.yaml:9:15:" in result.stderr and "IDEOGRAM_TOKEN" not in result.stderr


def test_unknown_org_flag(workdir):
    result = run("plan", "-c", ACME, "--sandbox", "--org", "nope")
    assert result.exit_code == 1 and "--org 'nope'" in result.stderr


def test_export_then_plan_gives_no_changes_in_both_versions(workdir, tmp_path, api_version):
    result = run("export", "--sandbox", "-o", str(tmp_path / "exported.yaml"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "exported.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "\n# Exported by ideogram-org" in text
    assert run("validate", "-c", str(tmp_path / "exported.yaml")).exit_code == 0
    planned = run(
        "plan",
        "-c",
        str(tmp_path / "exported.yaml"),
        "--sandbox",
        "--detailed-exitcode",
        "--output",
        "json",
    )
    assert planned.exit_code == 0, planned.output
    document = json.loads(planned.stdout)
    assert (
        document["changes"] == [] and document["blocked"] == [] and document["unmanaged_keys"] == []
    )
    assert document["api_version"] == api_version
    assert {o["name"] for o in document["organizations"]} == {"acme", "Acme Labs"}


def test_export_sorts_members_owners_first(workdir):
    text = run("export", "--sandbox", "--org", "acme").stdout
    emails = [line.split("email: ")[1] for line in text.splitlines() if "email: " in line]
    assert emails[0] == "dana.reyes@acme.example"
    assert emails[1:] == sorted(emails[1:])


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--bogus"],
        ["plan", "--detailed-exitcode", "--bogus"],
        ["drift", "--bogus"],
        ["plan", "--output", "yaml"],
        ["usage", "--by", "colour"],
        ["nosuchcommand"],
    ],
)
def test_a_command_line_the_tool_cannot_run_exits_1_never_2(workdir, args):
    """2 means changes or drift, so `drift ... || [ $? -eq 2 ]` cannot pass on a typo."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and (
        "Error" in result.stderr or "error" in result.stderr
    )


def test_changes_still_exit_2_and_help_exits_0(workdir):
    assert run("plan", "-c", ACME, "--sandbox", "--detailed-exitcode").exit_code == 2
    assert run("--help").exit_code == 0 and run("plan", "--help").exit_code == 0
