"""Membership from sources, against real servers: Debian's slapd loaded from an LDIF (nested
groups, a cycle, an entry without an email) and scim2-server, a SCIM 2.0 service, as processes;
an HR export and team files; and what keeps a broken source from emptying the organization."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import b64id
from tests.directory_servers import ADMIN_DN, ADMIN_PASSWORD, SCIM_TOKEN, Scim, slapd
from tests.scenario import TOKEN, cli, served

ROOT = Path(__file__).resolve().parent.parent
LDIF = ROOT / "tests" / "data" / "directory" / "acme.ldif"
GROUPS = "ou=groups,dc=acme,dc=example"
USERS = [
    "priya.nair", "marco.rossi", "sam.okafor", "emma.schmidt", "tomas.novak", "aisha.khan",
    "noah.berg", "felix.wagner", "jules.martin", "grace.ho", "li.wei", "nina.lund", "oscar.diaz",
]  # fmt: skip
OWNERS = ["li.wei", "priya.nair"]
# what every source of the same people must plan: three joiners (one of them an owner), a
# member promoted, a leaver removed
EXPECTED = {
    ("member.add", "li.wei@acme.example"),
    ("member.add", "nina.lund@acme.example"),
    ("member.add", "oscar.diaz@acme.example"),
    ("member.promote", "li.wei@acme.example"),
    ("member.promote", "priya.nair@acme.example"),
    ("member.remove", "ravi.patel@acme.example"),
}


def desired(sources: str, policy: str = "") -> str:
    return (
        "version: 1\n"
        "policy:\n"
        "  ignore_members: ['*@svc.acme.example']\n"
        "organizations:\n"
        "  acme:\n"
        f"    id: {DEMO_ORG_ID}\n"
        f"{policy}"
        "    members:\n"
        "      - {email: dana.reyes@acme.example, role: OWNER}\n"
        "    sources:\n"
        f"{sources}"
    )


def ldap_sources(url: str, users: str = "ideogram-users", owners: str = "ideogram-owners") -> str:
    def one(group: str, role: str) -> str:
        return (
            "      - ldap:\n"
            f"          url: {url}\n"
            "          bind_dn_env: LDAP_BIND_DN\n"
            "          password_env: LDAP_PASSWORD\n"
            f"          group: cn={group},{GROUPS}\n"
            f"        role: {role}\n"
        )

    return one(users, "MEMBER") + (one(owners, "OWNER") if owners else "")


def planned(result) -> set[tuple[str, str]]:
    plan = json.loads(result.stdout)
    return {(c["action"], c["member"]["email"] or c["member"]["handle"]) for c in plan["changes"]}


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LDAP_BIND_DN", ADMIN_DN)
    monkeypatch.setenv("LDAP_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("SCIM_TOKEN", SCIM_TOKEN)
    return tmp_path


@pytest.fixture
def directory(tmp_path):
    with slapd(tmp_path / "slapd", LDIF) as server:
        yield server


def test_an_ldap_group_plans_and_applies_joiners_leavers_and_owners(here, directory):
    """Nested groups (with a cycle) resolve to their people; the entry without an email is named
    and left out; the plan says where each person came from, carries what the directory
    returned, and apply makes the organization match."""
    Path("ideogram-org.yaml").write_text(desired(ldap_sources(directory.url)))
    with served(demo_state()) as (sandbox, url):
        text = cli(url, "plan")
        as_json = cli(url, "plan", "--output", "json")
        assert planned(as_json) == EXPECTED
        applied = cli(url, "apply", "--auto-approve")
        assert applied.exit_code == 0, applied.output
        again = cli(url, "plan", "--detailed-exitcode")
        members = sandbox.state.organizations[DEMO_ORG_ID].members
    assert f"add (joins as MEMBER) from ldap cn=ideogram-users,{GROUPS}" in text.stdout
    assert f"from ldap cn=ideogram-owners,{GROUPS}" in text.stdout
    assert "not in the file or its sources (ldap cn=ideogram-users" in text.stdout
    assert "uid=contractor,ou=people,dc=acme,dc=example: no mail" in text.stderr
    snapshot = json.loads(as_json.stdout)["sources"]
    assert [s["source"] for s in snapshot] == [
        f"ldap cn=ideogram-users,{GROUPS}",
        f"ldap cn=ideogram-owners,{GROUPS}",
    ]
    assert len(snapshot[0]["members"]) == len(USERS)
    assert again.exit_code == 0
    assert members[b64id("user_liwei")] == "OWNER" and members[b64id("user_priya")] == "OWNER"
    assert b64id("user_ravi_p") not in members


def test_a_plan_process_reads_the_directory_beside_the_api_and_fails_it_in_one_line(
    here, directory
):
    """A CLI process runs no other thread when it starts reading, so it reads the directory in a
    forked child while it reads the organization: the same plan as in a thread, and a refused
    bind is still one line, exit 1, nothing sent."""
    Path("ideogram-org.yaml").write_text(desired(ldap_sources(directory.url)))
    env = {**os.environ, "NO_COLOR": "1"}
    with served(demo_state()) as (sandbox, url):
        env.update(IDEOGRAM_ENDPOINT=url, IDEOGRAM_TOKEN=TOKEN)
        command = [sys.executable, "-m", "reconciler.cli", "plan", "--output", "json"]
        good = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        env["LDAP_PASSWORD"] = "not-the-password"
        bad = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert sandbox.write_requests == []
    assert good.returncode == 0, good.stderr
    plan = json.loads(good.stdout)
    assert {(c["action"], c["member"]["email"]) for c in plan["changes"]} == EXPECTED
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "the bind was refused (invalidCredentials)" in errors[0]
    assert ADMIN_PASSWORD not in bad.stderr + bad.stdout


@pytest.mark.slow
def test_the_same_people_from_scim_a_csv_and_team_files_plan_the_same(here):
    scim = Scim()
    try:
        ids = {name: scim.user(f"{name}@acme.example") for name in USERS}
        gone = scim.user("left.company@acme.example", active=False)
        designers = scim.group("Designers", [ids["oscar.diaz"]])
        listed = [ids[n] for n in USERS if n != "oscar.diaz"] + [gone]
        scim.group("Ideogram Users", listed, [designers])
        scim.group("Ideogram Owners", [ids[n] for n in OWNERS])
        reader = f"url: {scim.url}, token_env: SCIM_TOKEN"
        Path("scim.yaml").write_text(
            desired(
                f"      - scim: {{{reader}, group: Ideogram Users}}\n"
                f"      - scim: {{{reader}, group: Ideogram Owners}}\n"
                "        role: OWNER\n"
            )
        )
        with served(demo_state()) as (_, url):
            from_scim = cli(url, "plan", "-c", "scim.yaml", "--output", "json")
    finally:
        scim.stop()
    Path("hr").mkdir()
    rows = ["work_email,department,status,ideogram_owner"]
    rows += [f"{n}@acme.example,Design,active,{'yes' if n in OWNERS else 'no'}" for n in USERS]
    rows += ["ravi.patel@acme.example,Design,left,no", ",Design,active,no"]
    Path("hr/people.csv").write_text("\n".join(rows) + "\n")
    Path("csv.yaml").write_text(
        desired(
            "      - csv: {path: hr/people.csv, email: work_email, where: {status: active}}\n"
            "      - csv:\n"
            "          {path: hr/people.csv, email: work_email, where: {ideogram_owner: 'yes'}}\n"
            "        role: OWNER\n"
        )
    )
    Path("teams").mkdir()
    Path("teams/users.yaml").write_text(
        "members:\n" + "".join(f"  - email: {n}@acme.example\n" for n in USERS)
    )
    Path("teams/owners.yaml").write_text(
        "members:\n" + "".join(f"  - {{email: {n}@acme.example, role: OWNER}}\n" for n in OWNERS)
    )
    Path("teams.yaml").write_text(
        desired(
            "      - file: {path: teams/users.yaml, domains: [acme.example], max_members: 50}\n"
            "      - file: {path: teams/owners.yaml, may_grant: [OWNER]}\n"
            "        role: OWNER\n"
        )
    )
    with served(demo_state()) as (_, url):
        from_csv = cli(url, "plan", "-c", "csv.yaml", "--output", "json")
        from_teams = cli(url, "plan", "-c", "teams.yaml", "--output", "json")
        text = cli(url, "plan", "-c", "teams.yaml")
    assert planned(from_scim) == planned(from_csv) == planned(from_teams) == EXPECTED
    assert "user left.company: inactive" in from_scim.stderr
    assert "line 16: no valid email in column 'work_email'" in from_csv.stderr
    assert "from teams/owners.yaml:2:5" in text.stdout  # provenance to the character


def _stop_after(server, upstream: int, requests: int) -> int:
    """A loopback relay to slapd that stops slapd when the client sends its Nth request: the
    directory goes away in the middle of a plan, at the same point every run."""
    listener = socket.create_server(("127.0.0.1", 0))

    def pump(source, target, count: bool) -> None:
        seen = 0
        while data := source.recv(65536):
            seen += count
            if count and seen >= requests:
                server.stop()
                target.close()
                return
            target.sendall(data)

    def relay() -> None:
        client, _ = listener.accept()
        backend = socket.create_connection(("127.0.0.1", upstream))
        threading.Thread(target=pump, args=(backend, client, False), daemon=True).start()
        with contextlib.suppress(OSError):
            pump(client, backend, True)
        client.close()

    threading.Thread(target=relay, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.parametrize(
    "case", ["slapd stops mid-plan", "wrong password", "empty group", "group shrank by 80%"]
)
def test_a_broken_directory_fails_the_plan_in_one_line_and_sends_nothing(
    here, directory, monkeypatch, case
):
    url, users = directory.url, "ideogram-users"
    if case == "slapd stops mid-plan":
        url = f"ldap://127.0.0.1:{_stop_after(directory, directory.port, 3)}"
    elif case == "wrong password":
        monkeypatch.setenv("LDAP_PASSWORD", "not-the-password")
    elif case == "empty group":
        users = "empty"
    else:
        users = "shrunk"
    Path("ideogram-org.yaml").write_text(desired(ldap_sources(url, users, owners="")))
    with served(demo_state()) as (sandbox, endpoint):
        result = cli(endpoint, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, result.stderr
    expected = {
        "slapd stops mid-plan": "ldap cn=ideogram-users",
        "wrong password": "the bind was refused (invalidCredentials)",
        "empty group": "returned nobody for acme: refused",
        "group shrank by 80%": "the plan is unsafe",
    }[case]
    assert expected in errors[0]
    assert ADMIN_PASSWORD not in result.output


def test_validate_holds_a_team_file_to_its_scope(here):
    Path("teams").mkdir()
    Path("teams/design.yaml").write_text(
        "members:\n"
        "  - email: priya.nair@acme.example\n"
        "  - {email: grace.ho@acme.example, role: OWNER}\n"
        "  - email: outsider@gmail.example\n"
    )
    Path("ideogram-org.yaml").write_text(
        desired(
            "      - file: {path: teams/design.yaml, domains: [acme.example], max_members: 2}\n"
        )
    )
    result = CliRunner().invoke(main, ["validate"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(
        line.startswith("teams/design.yaml:3:42: grace.ho@acme.example is listed as OWNER")
        for line in lines
    ), lines
    assert any(
        line.startswith("teams/design.yaml:4:5: outsider@gmail.example is not an email in")
        for line in lines
    )
    assert any("more than its max_members (2)" in line for line in lines)


def test_a_saved_plan_is_stale_once_a_source_says_otherwise(here):
    Path("hr").mkdir()
    Path("hr/people.csv").write_text("work_email\n" + "".join(f"{n}@acme.example\n" for n in USERS))
    Path("ideogram-org.yaml").write_text(
        desired("      - csv: {path: hr/people.csv, email: work_email}\n")
    )
    with served(demo_state()) as (sandbox, url):
        assert cli(url, "plan", "--out", "plan.json").exit_code == 0
        Path("hr/people.csv").write_text(
            "work_email\n" + "".join(f"{n}@acme.example\n" for n in USERS if n != "nina.lund")
        )
        result = cli(url, "apply", "plan.json")
        assert sandbox.write_requests == []
    assert result.exit_code == 1 and "a source of members says otherwise now" in result.output
    assert "acme: csv hr/people.csv: no longer lists email:nina.lund@acme.example" in (
        result.output
    )


def test_a_source_from_another_package_comes_through_its_entry_point(here, monkeypatch):
    """A package that declares `[ideogram_org.sources] hr = acme_hr:Source` gives people the
    same way the built-in sources do."""
    package = here / "site"
    (package / "acme_hr-1.0.dist-info").mkdir(parents=True)
    (package / "acme_hr-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-hr\nVersion: 1.0\n"
    )
    (package / "acme_hr-1.0.dist-info" / "entry_points.txt").write_text(
        "[ideogram_org.sources]\nhr = acme_hr:Source\n"
    )
    (package / "acme_hr.py").write_text(
        "from reconciler.model.sources import SourcedEntry\n"
        "from reconciler.sources.base import MemberSource, SourceAnswer\n"
        "class Source(MemberSource):\n"
        "    def __init__(self, options, role):\n"
        "        self.people, self.role = options['people'], role\n"
        "    def describe(self):\n"
        "        return 'acme-hr'\n"
        "    def read(self):\n"
        "        if not self.people:\n"
        "            raise KeyError('the HR system answered nothing')\n"
        "        return SourceAnswer([SourcedEntry('email', p, self.role) for p in self.people])\n"
    )
    monkeypatch.syspath_prepend(str(package))
    people = ", ".join(f"{n}@acme.example" for n in USERS)
    Path("ideogram-org.yaml").write_text(
        desired(f"      - plugin: {{name: hr, options: {{people: [{people}]}}}}\n")
    )
    with served(demo_state()) as (_, url):
        result = cli(url, "plan", "--output", "json")
    assert result.exit_code == 0, result.output
    assert {a for a in planned(result) if a[0] == "member.add"} == {
        a for a in EXPECTED if a[0] == "member.add"
    }
    # its failure is one line and sends nothing, as a built-in source's
    Path("ideogram-org.yaml").write_text(
        desired("      - plugin: {name: hr, options: {people: []}}\n")
    )
    with served(demo_state()) as (sandbox, url):
        broken = cli(url, "apply", "--auto-approve")
        assert sandbox.write_requests == []
    assert broken.exit_code == 1 and "Traceback" not in broken.output
    assert "acme-hr: the plugin failed: KeyError" in broken.stderr
    assert os.environ.get("LDAP_PASSWORD")  # unused here, and never needed


@pytest.mark.slow
def test_the_directory_examples_plan_safely_against_the_demo_sandbox(here):
    """examples/directory: the file and CSV sources as shipped, and ldap.yaml against slapd
    loaded with the example's own LDIF."""
    examples = ROOT / "examples" / "directory"
    ldif = examples / "directory.ldif"
    with slapd(here / "slapd", ldif) as server, served(demo_state()) as (sandbox, url):
        ldap = (examples / "ldap.yaml").read_text().replace("ldap://127.0.0.1:3890", server.url)
        (here / "ldap.yaml").write_text(ldap)
        from_ldap = cli(url, "plan", "-c", str(here / "ldap.yaml"), "--output", "json")
        shipped = cli(url, "plan", "-c", str(examples / "ideogram-org.yaml"), "--output", "json")
        assert sandbox.write_requests == []
    assert from_ldap.exit_code == 0 and planned(from_ldap) == EXPECTED
    assert shipped.exit_code == 0 and planned(shipped) == {
        ("member.add", "li.wei@acme.example"),
        ("member.remove", "ravi.patel@acme.example"),
    }
