"""A new key's life between its create and its binding, killed (as `kill -9` would) at each of
ten moments: the intent on record, the create answered, each of three sinks staged and
committed, the outcome on record, the binding made. The next apply, on the same shared state
branch, leaves exactly one ACTIVE key for the label, the one every sink delivers; and no
secret the sandbox ever issued is in any file but the sinks, in the state branch's history, or
in anything either run printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest

from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.store.crash_points import CRASH_ENV, CRASH_STATUS
from tests.fake_github_api import TOKEN as GITHUB_TOKEN
from tests.fake_github_api import fake_github
from tests.git_remote import bare_repository, git
from tests.scenario import TOKEN, served

MOMENTS = [
    "write.intent:1",  # the create's intent is recorded, not yet published or sent
    "sent:1",  # the key exists; its secret is only in this process's memory
    "delivery.staged:1",  # GitHub's public key read and the secret sealed
    "delivery.staged:2",  # the age file written beside its place
    "delivery.staged:3",  # the file sink checked
    "delivery.committed:1",  # the GitHub secret holds the new key
    "delivery.committed:2",  # and the age file
    "delivery.committed:3",  # and the secrets file
    "write:1",  # the create's outcome, with what every sink read back, is on record
    "key.bound:1",  # the key is bound, not yet published
]
SECRET_PATH = "/repos/acme/app/actions/secrets/IDEOGRAM_API_KEY"


def desired_file(folder: Path, state_url: str, recipient: str) -> Path:
    org = demo_state().organizations[DEMO_ORG_ID]
    members = "".join(
        f"      - {{user_id: {user_id}, role: {role}}}\n" for user_id, role in org.members.items()
    )
    path = folder / "ideogram-org.yaml"
    path.write_text(
        "version: 1\n"
        f"state: {{backend: git, url: {state_url}, lease: 2s}}\n"
        "organizations:\n"
        "  acme:\n"
        f"    id: {DEMO_ORG_ID}\n"
        "    members:\n"
        f"{members}"
        "    api_keys:\n"
        "      ci:\n"
        "        deliver_to:\n"
        "          - github_secret: {repository: acme/app, name: IDEOGRAM_API_KEY}\n"
        f"          - age_file: {{path: ci.age, recipients: [{recipient}]}}\n"
        "          - file: {path: keys.jsonl}\n"
    )
    return path


def apply_process(folder: Path, url: str, github_url: str, crash_at: str | None = None):
    env = {
        **os.environ,
        "IDEOGRAM_TOKEN": TOKEN,
        "IDEOGRAM_ENDPOINT": url,
        "IDEOGRAM_ORG_GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_API_URL": github_url,
        "NO_COLOR": "1",
    }
    env.pop(CRASH_ENV, None)
    if crash_at is not None:
        env[CRASH_ENV] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "apply", "--auto-approve"]
        + ["--lock-timeout", "60"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def branch_history(remote: Path) -> bytes:
    """Every object the state repository holds, of every commit."""
    return subprocess.run(
        ["git", "--git-dir", str(remote), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS)
def test_a_kill_between_create_and_binding_leaves_one_active_delivered_key(tmp_path, moment):
    identity = pyrage.x25519.Identity.generate()
    remote = bare_repository(tmp_path, "state.git")
    folder = tmp_path / "config"
    folder.mkdir()
    git("init", "--quiet", str(folder))
    desired_file(folder, f"file://{remote}", str(identity.to_public()))
    with fake_github() as (github, github_url), served(demo_state()) as (sandbox, url):
        keys = sandbox.state.organizations[DEMO_ORG_ID].api_keys
        before = set(keys)
        killed = apply_process(folder, url, github_url, crash_at=moment)
        assert killed.returncode == CRASH_STATUS, killed.stderr
        again = apply_process(folder, url, github_url)
        assert again.returncode == 0, again.stdout + again.stderr
        made = {k: keys[k].status for k in keys if k not in before}
        issued = dict(sandbox.issued_secrets)
        active = [k for k, status in made.items() if status == "ACTIVE"]
        assert len(active) == 1, made
        # killed before the create was sent: one key; after: the killed run's key is settled as
        # a lost create (its record never reached the branch) and deactivated, after a fresh key
        # was delivered in its place
        expected = ["ACTIVE"] if moment == "write.intent:1" else ["ACTIVE", "DISABLED"]
        assert sorted(made.values()) == expected
        (key_id,) = active
        secret = issued[key_id]
        assert github.value(SECRET_PATH) == secret
        delivered_file = [line for line in (folder / "keys.jsonl").read_text().splitlines()]
    assert key_id in delivered_file[-1] and secret in delivered_file[-1]
    assert pyrage.decrypt((folder / "ci.age").read_bytes(), [identity]).decode() == secret
    shown = killed.stdout + killed.stderr + again.stdout + again.stderr
    everywhere = branch_history(remote) + shown.encode()
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != folder / "keys.jsonl" and "state.git" not in path.parts:
            everywhere += path.read_bytes()
    cache = Path(os.environ["XDG_CACHE_HOME"])
    for path in cache.rglob("*"):
        if path.is_file():
            everywhere += path.read_bytes()
    assert [s for s in issued.values() if s.encode() in everywhere] == []
    binding = git("--git-dir", str(remote), "show", "ideogram-org-state:audit.jsonl")
    assert f'"api_key_id":"{key_id}"' in binding and '"event":"key.bound"' in binding
