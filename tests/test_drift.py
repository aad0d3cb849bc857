"""drift: read-only by construction, exit 0/2/1, every difference named with whether apply can fix
it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.api.client import ApiClient, ApiReader
from reconciler.sandbox.demo import demo_state
from reconciler.service.connect import open_api
from tests.scenario import cli, served

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()


def test_the_drift_client_cannot_write():
    reader = open_api(sandbox=True, writable=False)
    assert type(reader) is ApiReader  # drift asks for a reader, which has no write calls at all
    for name in (
        "add_members",
        "promote_members",
        "remove_members",
        "deactivate_key",
        "create_key",
        "_write",
    ):
        assert not hasattr(reader, name)
        assert hasattr(ApiClient, name)
    reader.close()


def test_drift_reports_each_difference_and_sends_no_write(tmp_path, monkeypatch, api_version):
    monkeypatch.chdir(tmp_path)
    state = demo_state(api_version)
    # a demotion the API cannot do and a key it cannot bring back
    state.organizations["b3JnX2FjbWVfY29ycA"].members["dXNlcl9ncmFjZV9obw"] = "OWNER"
    state.organizations["b3JnX2FjbWVfY29ycA"].api_keys["3q2-7wAAQkKpYXNzd29yZA"].status = "DISABLED"
    Path("ideogram-org.yaml").write_text(ACME)
    with served(state) as (sandbox, url):
        result = cli(url, "drift", "--output", "json")
        assert result.exit_code == 2, result.output
        assert sandbox.write_requests == []
        text = cli(url, "drift")
        markdown = cli(url, "drift", "--output", "markdown")
    report = json.loads(result.stdout)
    assert report["in_sync"] is False
    by_subject = {d["subject"]: d for d in report["differences"]}
    assert by_subject["li.wei@acme.example"] == {
        "organization": "acme",
        "kind": "member.add",
        "subject": "li.wei@acme.example",
        "live": "not a member",
        "desired": "listed as OWNER",
        "fixable": True,
        "fix": "apply would add: listed in the file, not in the organization",
    }
    assert by_subject["ravi.patel@acme.example"]["fixable"] is True
    assert by_subject["grace.ho@acme.example"]["fixable"] is False  # demotion: no API call
    assert "no call to demote" in by_subject["grace.ho@acme.example"]["fix"]
    assert (
        by_subject["key ci-pipeline (3q2-7wAAQkKpYXNzd29yZA)"]["fixable"] is False
    )  # reactivation: impossible
    assert "[NOT fixable]" in text.stdout and "[fixable]" in text.stdout
    assert markdown.stdout.startswith("<!-- ideogram-org drift -->") and "| no |" in markdown.stdout


def test_in_sync_exits_0(tmp_path, monkeypatch, api_version):
    monkeypatch.chdir(tmp_path)
    state = demo_state(api_version)
    with served(state) as (sandbox, url):
        exported = cli(url, "export", "--org", "acme")
        Path("ideogram-org.yaml").write_text(exported.stdout)
        result = cli(url, "drift")
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("In sync")


@pytest.mark.slow
def test_drift_error_exits_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("ideogram-org.yaml").write_text(ACME)
    result = cli("http://127.0.0.1:9", "drift", "--timeout", "0.5")
    assert result.exit_code == 1 and "cannot connect" in result.stderr


@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_drift_on_the_sandbox(tmp_path, monkeypatch, output):
    monkeypatch.chdir(tmp_path)
    from click.testing import CliRunner

    from reconciler.cli import main

    result = CliRunner().invoke(
        main,
        [
            "drift",
            "--sandbox",
            "-c",
            str(ROOT / "examples/acme/ideogram-org.yaml"),
            "--output",
            output,
        ],
    )
    assert result.exit_code == 2
