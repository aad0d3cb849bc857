"""A served sandbox and an organization whose file asks for every kind of change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from reconciler.cli import main
from reconciler.sandbox import Faults, Sandbox, SandboxServer, SandboxState, generate_state

TOKEN = "tok-Zq8-NEVER-PRINT-9fX"


@contextmanager
def served(state: SandboxState, faults: Faults | None = None) -> Iterator[tuple[Sandbox, str]]:
    state.token = TOKEN
    sandbox = Sandbox(state, faults)
    server = SandboxServer(sandbox)
    server.start_in_thread()
    try:
        yield sandbox, server.url
    finally:
        server.shutdown()
        server.server_close()


def cli(url: str, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        main,
        [*args, "--endpoint", url],
        env={"IDEOGRAM_TOKEN": TOKEN, "NO_COLOR": "1"},
        input=input,
        catch_exceptions=False,
    )


@dataclass
class Scenario:
    state: SandboxState
    org_id: str
    text: str
    min_owners: int = 2


def scenario(api_version: str, members: int = 30, seed: int = 11) -> Scenario:
    """Adds (one as OWNER), promotions, an owner removal, member removals, key changes and two new
    keys."""
    state = generate_state(
        members=members, keys=6, seed=seed, api_version=api_version, org_name="acme", outsiders=12
    )
    org = next(iter(state.organizations.values()))
    users = state.users
    member_ids = list(org.members)
    outsiders = [uid for uid in users if uid not in org.members]
    lines = [
        "# yaml-language-server: $schema=../schemas/ideogram-org.schema.json",
        "version: 1",
        "policy:",
        "  min_owners: 2",
        "  max_removals: 50%",
        "organizations:",
        "  acme:",
        f"    id: {org.organization_id}",
        "    members:",
        f"      - email: {users[member_ids[0]].email_address}   # stays OWNER",
        "        role: OWNER",
    ]
    # member_ids[1] is an OWNER the file leaves out: an owner removal
    for uid in member_ids[2:4]:
        lines += [
            f"      - handle: {users[uid].display_handle}",
            "        role: OWNER",
        ]  # promotions
    for uid in member_ids[4 : members - 6]:
        lines.append(f"      - user_id: {uid}")
    # the last six members are removed
    lines += [
        f"      - email: {users[outsiders[0]].email_address.upper()}",
        "        role: OWNER",
    ]  # add + promote
    for uid in outsiders[1:6]:
        lines.append(f"      - email: {users[uid].email_address}")
    keys = list(org.api_keys.values())
    lines.append("    api_keys:")
    for index, key in enumerate(keys):
        status = "DISABLED" if index < 2 or key.status == "DISABLED" else "ACTIVE"
        lines += [
            f"      key-{index}:",
            f"        id: {key.api_key_id}",
            f"        status: {status}",
        ]
    lines += [
        "      reporting:",
        "        # a new key for the BI team",
        "        status: ACTIVE",
        "      batch: {status: ACTIVE}",
    ]
    return Scenario(state=state, org_id=org.organization_id, text="\n".join(lines) + "\n")


def write_file(directory: Path, text: str) -> Path:
    path = directory / "ideogram-org.yaml"
    path.write_text(text)
    return path


# the sandbox's write operations, as the audit chain names them
ACTIONS = {
    "add_organization_members": "member.add",
    "promote_organization_members": "member.promote",
    "remove_organization_members": "member.remove",
    "deactivate_organization_api_key": "key.deactivate",
    "create_api_key_v2": "key.create",
}


def three_owners_two_files() -> tuple[SandboxState, str, str]:
    """The demo organization with three owners (dana, priya, marco; min_owners 2) and two files,
    each dropping a different owner: each alone is safe, both at once would leave one owner."""
    from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
    from reconciler.sandbox.state import b64id

    state = demo_state()
    org = state.organizations[DEMO_ORG_ID]
    org.members[b64id("user_priya")] = "OWNER"
    org.members[b64id("user_marco_r")] = "OWNER"
    acme = (Path(__file__).resolve().parent.parent / "examples/acme/ideogram-org.yaml").read_text()
    base = acme.replace("max_removals: 25%", "max_removals: 5")
    base = base.replace("      - email: li.wei@acme.example\n        role: OWNER\n", "")
    for name in ("priya.nair", "marco.rossi"):
        base = base.replace(
            f"      - email: {name}@acme.example\n",
            f"      - {{email: {name}@acme.example, role: OWNER}}\n",
        )
    a, b = (
        "\n".join(line for line in base.splitlines() if leaves not in line) + "\n"
        for leaves in ("priya.nair", "marco.rossi")
    )
    return state, a, b
