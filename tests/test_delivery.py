"""Delivering a new key's secret: GitHub Actions secrets in three scopes (against a fake of
GitHub's documented API that opens every sealed box it gets), age files the `age` binary
decrypts, the local file; and what a failed delivery leaves: no ACTIVE key nobody holds."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner

from reconciler import safe_files
from reconciler.cli import main
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from tests.fake_github_api import TOKEN as GITHUB_TOKEN
from tests.fake_github_api import FakeGitHub, fake_github
from tests.scenario import cli, served

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
REPO_SCOPE = "/repos/acme/app/actions/secrets"
ENV_SCOPE = "/repos/acme/app/environments/production/secrets"
ORG_SCOPE = "/orgs/acme/actions/secrets"
APP_SECRET = "{repository: acme/app, name: IDEOGRAM_API_KEY}"


def with_keys(entries: str) -> str:
    """The example file with more keys under acme's api_keys (entries indented 6 spaces)."""
    return ACME.replace("    api_keys:\n", "    api_keys:\n" + entries, 1)


def age_identity() -> tuple[str, str]:
    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def age_decrypt(path: Path, identity: str, tmp: Path) -> str:
    """The secret, as the standard `age` tool decrypts it."""
    if shutil.which("age") is None:
        if os.environ.get("CI"):
            pytest.fail("the age binary is missing: .ci/run installs Debian's age")
        pytest.skip("the age binary is not installed (apt-get install age)")
    key_file = tmp / "identity.txt"
    key_file.write_text(identity + "\n")
    done = subprocess.run(
        ["age", "--decrypt", "--identity", str(key_file), str(path)],
        capture_output=True,
        check=True,
    )
    return done.stdout.decode()


def new_keys(sandbox, before: set[str]) -> dict[str, str]:
    keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys.values()
    return {k.api_key_id: k.status for k in keys if k.api_key_id not in before}


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def files_holding(folder: Path, secrets: list[str], skip: tuple[Path, ...] = ()) -> list[Path]:
    """Every file under `folder` (but `skip`) that holds one of `secrets`."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and path not in skip:
            data = path.read_bytes()
            if any(secret.encode() in data for secret in secrets):
                found.append(path)
    return found


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDEOGRAM_ORG_GITHUB_TOKEN", GITHUB_TOKEN)
    return tmp_path


def test_each_github_scope_receives_the_secret_the_sandbox_issued(here, monkeypatch):
    """A repository, an environment and an organization secret: each PUT is opened with the
    scope's private key and holds exactly the secret Ideogram issued; the audit trail keeps a
    fingerprint and GitHub's updated_at, never the secret."""
    Path("ideogram-org.yaml").write_text(
        with_keys(
            "      repo-key:\n"
            f"        deliver_to: [{{github_secret: {APP_SECRET}}}]\n"
            "      env-key:\n"
            "        deliver_to:\n"
            "          - github_secret: {repository: acme/app, environment: production,"
            " name: IDEOGRAM_API_KEY}\n"
            "      org-key:\n"
            "        deliver_to: [{github_secret: {organization: acme, name: IDEOGRAM_ORG_KEY}}]\n"
        )
    )
    with fake_github() as (github, github_url), served(demo_state()) as (sandbox, url):
        monkeypatch.setenv("GITHUB_API_URL", github_url)
        plan = cli(url, "plan")
        assert "secret to github_secret IDEOGRAM_API_KEY of acme/app" in plan.stdout
        assert "environment production of acme/app" in plan.stdout
        assert "IDEOGRAM_ORG_KEY of organization acme" in plan.stdout
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        result = cli(url, "apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        made = new_keys(sandbox, before)
        issued = {key_id: sandbox.issued_secrets[key_id] for key_id in made}
    assert sorted(made.values()) == ["ACTIVE"] * 3
    delivered = {
        github.value(f"{REPO_SCOPE}/IDEOGRAM_API_KEY"),
        github.value(f"{ENV_SCOPE}/IDEOGRAM_API_KEY"),
        github.value(f"{ORG_SCOPE}/IDEOGRAM_ORG_KEY"),
    }
    assert delivered == set(issued.values())
    assert github.secrets[f"{ORG_SCOPE}/IDEOGRAM_ORG_KEY"].visibility == "private"
    bound = [r for r in records(Path("ideogram-org.audit.jsonl")) if r["event"] == "key.bound"]
    keys = bound[-1]["keys"]
    assert {k["label"] for k in keys} == {"repo-key", "env-key", "org-key"}
    for key in keys:
        assert key["fingerprint"].startswith("sha256:")
        assert key["deliveries"][0]["updated_at"].endswith("Z")
    text = Path("ideogram-org.yaml").read_text()
    assert all(key_id in text for key_id in made)  # the local store writes the ids back
    assert files_holding(here, list(issued.values())) == []
    assert not any(s in result.output for s in issued.values())


def test_an_age_file_the_age_binary_decrypts_holds_the_secret(here):
    identity, recipient = age_identity()
    Path("secrets").mkdir()
    Path("ideogram-org.yaml").write_text(
        with_keys(
            "      ci-pipeline-2:\n"
            "        deliver_to:\n"
            f"          - age_file: {{path: secrets/ci.age, recipients: [{recipient}]}}\n"
        )
    )
    with served(demo_state()) as (sandbox, url):
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        result = cli(url, "apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        (key_id,) = new_keys(sandbox, before)
        secret = sandbox.issued_secrets[key_id]
    assert age_decrypt(here / "secrets" / "ci.age", identity, here) == secret
    assert files_holding(here, [secret]) == []  # the age file is sealed; nothing else holds it
    assert list(Path("secrets").iterdir()) == [Path("secrets/ci.age")]  # no temporary left


def test_a_refused_github_secret_leaves_no_active_undelivered_key(here, monkeypatch):
    """GitHub answers the PUT with 403 after the key exists: the key is deactivated at once, the
    age file beside it keeps its old copy (staged, never put in place), and nothing holds the
    dead key's secret."""
    identity, recipient = age_identity()
    Path("secrets").mkdir()
    Path("secrets/app.age").write_bytes(b"the previous copy")
    Path("ideogram-org.yaml").write_text(
        with_keys(
            "      app-key:\n"
            "        deliver_to:\n"
            f"          - age_file: {{path: secrets/app.age, recipients: [{recipient}]}}\n"
            "          - github_secret: {repository: acme/app, name: IDEOGRAM_API_KEY}\n"
        )
    )
    world = FakeGitHub(forbidden_puts={REPO_SCOPE})
    with fake_github(world) as (github, github_url), served(demo_state()) as (sandbox, url):
        monkeypatch.setenv("GITHUB_API_URL", github_url)
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        result = cli(url, "apply", "--auto-approve")
        made = new_keys(sandbox, before)
        secret = sandbox.issued_secrets[next(iter(made))]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert list(made.values()) == ["DISABLED"]
    assert "HTTP 403" in result.output and "deactivated at once" in result.output
    assert "no sink was changed" in result.output
    assert Path("secrets/app.age").read_bytes() == b"the previous copy"
    assert list(Path("secrets").iterdir()) == [Path("secrets/app.age")]
    assert github.secrets == {}
    assert secret not in result.output and files_holding(here, [secret]) == []


def test_a_token_github_refuses_stops_the_plan_before_any_key_exists(here, monkeypatch):
    """The public key of a scope the token may not reach is read before the first write: one
    line, nothing sent."""
    Path("ideogram-org.yaml").write_text(
        with_keys(f"      app-key:\n        deliver_to: [{{github_secret: {APP_SECRET}}}]\n")
    )
    world = FakeGitHub(forbidden={REPO_SCOPE})
    with fake_github(world) as (_, github_url), served(demo_state()) as (sandbox, url):
        monkeypatch.setenv("GITHUB_API_URL", github_url)
        result = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "HTTP 403 (Resource not accessible by integration)" in result.output
    monkeypatch.delenv("IDEOGRAM_ORG_GITHUB_TOKEN")
    with served(demo_state()) as (sandbox, url):
        result = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert result.exit_code == 1 and "set IDEOGRAM_ORG_GITHUB_TOKEN" in result.output


def test_a_full_disk_under_the_age_file_leaves_no_active_undelivered_key(here, monkeypatch):
    identity, recipient = age_identity()
    Path("secrets").mkdir()
    Path("ideogram-org.yaml").write_text(
        with_keys(
            "      app-key:\n"
            "        deliver_to:\n"
            "          - file: {path: keys.jsonl}\n"
            f"          - age_file: {{path: secrets/app.age, recipients: [{recipient}]}}\n"
        )
    )
    real = safe_files._write_payload

    def full_under_age(handle, payload):
        if payload.startswith(b"age-encryption.org/v1"):  # the age file, and only it
            raise OSError(errno.ENOSPC, "No space left on device")
        real(handle, payload)

    monkeypatch.setattr(safe_files, "_write_payload", full_under_age)
    with served(demo_state()) as (sandbox, url):
        before = set(sandbox.state.organizations[DEMO_ORG_ID].api_keys)
        result = cli(url, "apply", "--auto-approve")
        made = new_keys(sandbox, before)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert list(made.values()) == ["DISABLED"]
    assert "No space left on device" in result.output
    assert list(Path("secrets").iterdir()) == []
    assert not Path("keys.jsonl").exists()  # staged first: the file sink was never written


@pytest.mark.slow
def test_drift_names_a_github_secret_updated_by_hand(here, monkeypatch):
    Path("ideogram-org.yaml").write_text(
        with_keys(f"      app-key:\n        deliver_to: [{{github_secret: {APP_SECRET}}}]\n")
    )
    with fake_github() as (github, github_url), served(demo_state()) as (sandbox, url):
        monkeypatch.setenv("GITHUB_API_URL", github_url)
        assert cli(url, "apply", "--auto-approve").exit_code == 0
        clean = cli(url, "drift", "--output", "json")
        github.set_by_hand(f"{REPO_SCOPE}/IDEOGRAM_API_KEY", "pasted-by-someone")
        drifted = cli(url, "drift", "--output", "json")
        monkeypatch.delenv("IDEOGRAM_ORG_GITHUB_TOKEN")
        unread = cli(url, "drift", "--output", "json")
    kinds = [d["kind"] for d in json.loads(clean.stdout)["differences"]]
    assert "key.delivery" not in kinds
    found = [d for d in json.loads(drifted.stdout)["differences"] if d["kind"] == "key.delivery"]
    assert drifted.exit_code == 2 and len(found) == 1
    assert "updated_at is" in found[0]["live"] and "--replace-key acme/app-key" in found[0]["fix"]
    notes = json.loads(unread.stdout)["notes"]
    assert any("not checked" in note and "IDEOGRAM_ORG_GITHUB_TOKEN" in note for note in notes)


@pytest.mark.parametrize(
    "entries,problem",
    [
        (
            "      one: {deliver_to: [{github_secret: {repository: acme/app, name: KEY}}]}\n"
            "      two: {deliver_to: [{github_secret: {repository: Acme/App, name: key}}]}\n",
            "key 'two' is delivered where key 'one' (organization 'acme') already is",
        ),
        (
            "      one: {deliver_to: [{age_file: {path: s/a.age, recipients: [RECIPIENT]}}]}\n"
            "      two: {deliver_to: [{age_file: {path: s/./a.age, recipients: [RECIPIENT]}}]}\n",
            "one age_file holds one key's secret",
        ),
        (
            "      one: {deliver_to: [{github_secret: {repository: a/b, organization: a,"
            " name: K}}]}\n",
            "names exactly one of repository, organization",
        ),
        (
            "      one: {deliver_to: [{github_secret: {repository: a/b, name: GITHUB_KEY}}]}\n",
            "GitHub reserves secret names that start with GITHUB_",
        ),
        ("      one: {rotate: {every: 7d, overlap: 7d}}\n", "must be shorter than every"),
        (
            "      one: {deliver_to: [{age_file: {path: a.age, recipients: [age1nope]}}]}\n",
            "'age1nope' is not an age recipient",
        ),
    ],
)
def test_validate_refuses_a_delivery_or_rotation_that_cannot_work(here, entries, problem):
    _, recipient = age_identity()
    Path("ideogram-org.yaml").write_text(with_keys(entries.replace("RECIPIENT", recipient)))
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1 and problem in result.output
    assert "ideogram-org.yaml:" in result.output.splitlines()[0]  # FILE:LINE:COL first


def test_a_github_answer_of_502_is_sent_again_and_a_lasting_one_fails_the_sink():
    """Setting a secret is idempotent: a 502 gets the PUT sent again after a pause; three in a
    row fail the delivery with GitHub's status, never the secret."""
    from pydantic import SecretStr

    from reconciler.config.models import GithubSecretSink as Entry
    from reconciler.delivery.github_secret import GithubApi, GithubSecretSink
    from reconciler.delivery.sink import NewKey
    from reconciler.errors import DeliveryError

    entry = Entry.model_validate(
        {"github_secret": {"repository": "acme/app", "name": "IDEOGRAM_API_KEY"}}
    )
    key = NewKey("acme", "ci", "K1", "2026-12-01T00:00:00Z", SecretStr("s3cr3t-value"))
    with fake_github(FakeGitHub(failing_puts=1)) as (github, url):
        pauses: list[float] = []
        sink = GithubSecretSink(entry, GithubApi(url, GITHUB_TOKEN, sleep=pauses.append))
        receipt = sink.stage(key).commit()
        assert github.value(f"{REPO_SCOPE}/IDEOGRAM_API_KEY") == "s3cr3t-value"
        assert pauses == [1.0] and receipt.detail["updated_at"].endswith("Z")
        github.failing_puts = 3
        with pytest.raises(DeliveryError, match="HTTP 502") as failed:
            sink.stage(key).commit()
    assert "s3cr3t-value" not in str(failed.value) and pauses == [1.0, 1.0, 2.0]
