"""What a directory group costs: resolving an LDAP group of N people from a real slapd on
loopback (paged), and a whole `plan` whose members come from that group against the same plan
from a file that lists them, both as CLI processes against `sandbox serve`.

    python benchmarks/bench_sources.py                  # 100,000 people
    python benchmarks/bench_sources.py --members 10000

Needs Debian's slapd (`apt-get install slapd`). The people are the sandbox organization's own
members (so the two plans are the same), all in one groupOfNames; the directory also holds the
group's people as inetOrgPerson entries under ou=people.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_e2e import run, serve  # noqa: E402

from reconciler.config.source_models import LdapSource  # noqa: E402
from reconciler.sandbox import generate_state  # noqa: E402
from reconciler.sandbox.state import write_state  # noqa: E402
from reconciler.sources.ldap import LdapGroupSource  # noqa: E402
from tests.directory_servers import ADMIN_DN, ADMIN_PASSWORD, Slapd  # noqa: E402

GROUP = "cn=ideogram-users,ou=groups,dc=acme,dc=example"


def ldif(emails: list[str]) -> str:
    head = (
        "dn: dc=acme,dc=example\nobjectClass: top\nobjectClass: dcObject\n"
        "objectClass: organization\no: Acme\ndc: acme\n\n"
        "dn: ou=people,dc=acme,dc=example\nobjectClass: organizationalUnit\nou: people\n\n"
        "dn: ou=groups,dc=acme,dc=example\nobjectClass: organizationalUnit\nou: groups\n\n"
    )
    people = "".join(
        f"dn: uid=p{i},ou=people,dc=acme,dc=example\nobjectClass: inetOrgPerson\nuid: p{i}\n"
        f"cn: Person {i}\nsn: {i}\nmail: {email}\n\n"
        for i, email in enumerate(emails)
    )
    group = f"dn: {GROUP}\nobjectClass: groupOfNames\ncn: ideogram-users\n" + "".join(
        f"member: uid=p{i},ou=people,dc=acme,dc=example\n" for i in range(len(emails))
    )
    return head + people + group


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        state = generate_state(members=args.members, keys=5, seed=7)
        ((org_id, org),) = state.organizations.items()
        emails = [state.users[user_id].email_address for user_id in org.members]
        owners = [
            state.users[u].email_address for u, role in org.members.items() if role == "OWNER"
        ]
        (folder / "people.ldif").write_text(ldif(emails))
        started = time.perf_counter()
        directory = Slapd(folder / "slapd", folder / "people.ldif")
        print(
            f"slapadd + slapd start: {time.perf_counter() - started:.1f} s for {len(emails)} people"
        )
        os.environ["LDAP_BIND_DN"], os.environ["LDAP_PASSWORD"] = ADMIN_DN, ADMIN_PASSWORD
        try:
            source = LdapSource.model_validate(
                {
                    "ldap": {
                        "url": directory.url,
                        "bind_dn_env": "LDAP_BIND_DN",
                        "password_env": "LDAP_PASSWORD",
                        "group": GROUP,
                        "timeout": 120,
                    }
                }
            )
            walls = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                answer = LdapGroupSource(source).read()
                walls.append(time.perf_counter() - started)
            assert len(answer.entries) == len(emails), len(answer.entries)
            print(
                f"resolve the group (in process, paged): median {statistics.median(walls):.2f} s "
                f"wall of {args.repeat} ({', '.join(f'{w:.2f}' for w in walls)})"
            )
            write_state(state.to_dict(), folder / "state.json")
            owner_lines = "".join(f"      - email: {e}\n        role: OWNER\n" for e in owners)
            head = f"version: 1\norganizations:\n  acme:\n    id: {org_id}\n    members:\n"
            (folder / "from-file.yaml").write_text(
                head
                + owner_lines
                + "".join(f"      - email: {e}\n" for e in emails if e not in set(owners))
            )
            (folder / "from-ldap.yaml").write_text(
                head + owner_lines + "    sources:\n"
                f"      - ldap: {{url: '{directory.url}', bind_dn_env: LDAP_BIND_DN, "
                f"password_env: LDAP_PASSWORD, group: '{GROUP}', timeout: 120}}\n"
            )
            env = {**os.environ, "NO_COLOR": "1"}
            server, served = serve(folder / "state.json", folder, env, 0.0)
            try:
                rows = []
                for name in ("from-file", "from-ldap"):
                    samples = [
                        run(
                            f"plan {name}",
                            ["plan", "-c", f"{name}.yaml", "--detailed-exitcode"],
                            served,
                            folder,
                            ok=(0,),
                        )
                        for _ in range(args.repeat)
                    ]
                    cpu = statistics.median(s.cpu for s in samples)
                    wall = statistics.median(s.wall for s in samples)
                    rss = max(s.rss_mib for s in samples)
                    rows.append((name, cpu, wall, rss))
                    print(f"plan {name}: median {cpu:.2f} s CPU, {wall:.2f} s wall, {rss:.0f} MiB")
                print(
                    f"plan from ldap / plan from file: {rows[1][2] / rows[0][2]:.2f}x wall, "
                    f"{rows[1][1] / rows[0][1]:.2f}x CPU (the goal: within 2x)"
                )
            finally:
                server.terminate()
                server.wait()
        finally:
            directory.stop()


if __name__ == "__main__":
    main()
