"""The floor of each whole command: the least work that gets the same answer from the same files
and the same served sandbox, with the fastest parts at hand (rapidyaml, msgspec, httpx), none of
the tool's checks, records or output. bench_e2e.py runs each as its own process, measured the same
way as the command, so the ratio of the two is honest on a noisy machine.

    python benchmarks/floors.py read FILE
    python benchmarks/floors.py plan FILE ORG_ID          # drift is the same work
    python benchmarks/floors.py apply FILE ORG_ID         # plan, then the same write calls
    python benchmarks/floors.py export ORG_ID OUT
    python benchmarks/floors.py show PLAN_FILE
    python benchmarks/floors.py usage ORG_ID DAYS

The endpoint and token come from IDEOGRAM_ENDPOINT and IDEOGRAM_TOKEN, as for the tool.
"""

from __future__ import annotations

import gc
import os
import sys
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import httpx
import msgspec
import ryml

from reconciler.api.endpoints import ADD_MEMBERS, GET_MEMBERS, GET_USAGE, REMOVE_MEMBERS

CHUNK = 100  # members per write call, as the tool sends them (defaults.CHUNK_SIZE)


class Member(msgspec.Struct, gc=False):
    user_id: str
    role: str
    email_address: str = ""


class Members(msgspec.Struct):
    members: list[Member]


class Price(msgspec.Struct, gc=False):
    amount: float
    currency_code: str


class Row(msgspec.Struct, gc=False):
    amount: Price
    api_key_id: str | None = None


class Segment(msgspec.Struct):
    segment_start: str
    tool_usage: list[Row]


class Usage(msgspec.Struct):
    usage_segments: list[Segment]


def client() -> httpx.Client:
    return httpx.Client(
        base_url=os.environ["IDEOGRAM_ENDPOINT"],
        headers={"Authorization": f"Bearer {os.environ['IDEOGRAM_TOKEN']}"},
        timeout=600,
    )


def read_file(path: str) -> dict[str, dict[str, str]]:
    """Every organization's members (email -> role), from the file, through rapidyaml's tree."""
    tree = ryml.parse_in_arena(open(path, "rb").read())  # noqa: SIM115 - one read, then gone
    organizations = tree.find_child(tree.root_id(), b"organizations")
    found: dict[str, dict[str, str]] = {}
    org = tree.first_child(organizations)
    while org != ryml.NONE:
        wanted: dict[str, str] = {}
        members = tree.find_child(org, b"members")
        entry = tree.first_child(members) if members != ryml.NONE else ryml.NONE
        while entry != ryml.NONE:
            fields: dict[str, str] = {}
            field = tree.first_child(entry)
            while field != ryml.NONE:
                fields[bytes(tree.key(field)).decode()] = bytes(tree.val(field)).decode()
                field = tree.next_sibling(field)
            wanted[fields.get("email", "").casefold()] = fields.get("role", "MEMBER")
            entry = tree.next_sibling(entry)
        found[bytes(tree.key(org)).decode()] = wanted
        org = tree.next_sibling(org)
    return found


def live_members(http: httpx.Client, org_id: str) -> list[Member]:
    answer = http.get(GET_MEMBERS.path, params={"organization_id": org_id})
    answer.raise_for_status()
    return msgspec.json.decode(answer.content, type=Members).members


def plan(path: str, org_id: str) -> tuple[list[str], list[str]]:
    """Adds and removals: a set difference of emails."""
    wanted = next(iter(read_file(path).values()))
    with client() as http:
        live = {m.email_address.casefold(): m for m in live_members(http, org_id)}
    adds = [email for email in wanted if email not in live]
    removes = [email for email in live if email not in wanted]
    return adds, removes


def apply(path: str, org_id: str) -> None:
    adds, removes = plan(path, org_id)
    with client() as http:
        for endpoint, emails in ((ADD_MEMBERS, adds), (REMOVE_MEMBERS, removes)):
            for start in range(0, len(emails), CHUNK):
                body = {"members": [{"email_address": e} for e in emails[start : start + CHUNK]]}
                http.post(
                    endpoint.path, params={"organization_id": org_id}, json=body
                ).raise_for_status()


def export(org_id: str, out: str) -> None:
    with client() as http:
        members = live_members(http, org_id)
    with open(out, "w") as file:
        file.write("version: 1\norganizations:\n  org:\n    members:\n")
        file.writelines(f"      - email: {m.email_address}\n" for m in members)


def show(plan_file: str) -> None:
    document = msgspec.json.decode(open(plan_file, "rb").read())  # noqa: SIM115
    with open(os.devnull, "w") as out:
        for change in document.get("changes", []):
            out.write(f"{change.get('action')} {change.get('organization')}\n")


def usage(org_id: str, days: int) -> None:
    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=days)
    totals: dict[str | None, float] = defaultdict(float)
    with client() as http:
        for source in ("API", "APP"):
            answer = http.get(
                GET_USAGE.path,
                params={
                    "organization_id": org_id,
                    "segment_by": "DAY",
                    "start_time": start.isoformat().replace("+00:00", "Z"),
                    "end_time": end.isoformat().replace("+00:00", "Z"),
                    "source": source,
                },
            )
            answer.raise_for_status()
            for segment in msgspec.json.decode(answer.content, type=Usage).usage_segments:
                for row in segment.tool_usage:
                    totals[row.api_key_id] += row.amount.amount
    print(len(totals), file=sys.stderr)


def main() -> None:
    gc.disable()  # as the tool runs: no cycle collector passes over millions of objects
    command, *args = sys.argv[1:]
    if command == "read":
        read_file(args[0])
    elif command in ("plan", "drift"):
        plan(args[0], args[1])
    elif command == "apply":
        apply(args[0], args[1])
    elif command == "export":
        export(args[0], args[1])
    elif command == "show":
        show(args[0])
    elif command == "usage":
        usage(args[0], int(args[1]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
