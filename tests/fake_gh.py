"""A stand-in for the `gh` CLI: records every call and keeps comments and issues in a JSON file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_GH_STATE"])
LOG = Path(os.environ["FAKE_GH_LOG"])


def load() -> dict:
    state = {"comments": {}, "pulls": {}, "issues": [], "next_id": 1000}
    if STATE.exists():
        state.update(json.loads(STATE.read_text()))
    return state


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def body_from(args: list[str]) -> str:
    field = option(args, "-F") or ""
    if field.startswith("body=@"):
        return Path(field[len("body=@") :]).read_text()
    return Path(option(args, "--body-file")).read_text()


def main(args: list[str]) -> int:
    with LOG.open("a") as log:
        log.write(
            json.dumps({"args": args, "has_gh_token": bool(os.environ.get("GH_TOKEN"))}) + "\n"
        )
    state = load()
    if not os.environ.get("GH_TOKEN"):
        print("gh: authentication required", file=sys.stderr)
        return 4
    try:
        out = api(args, state) if args[0] == "api" else issue(args, state)
    except _Refused as refused:
        print(refused, file=sys.stderr)
        return 1
    STATE.write_text(json.dumps(state))
    sys.stdout.write(out)
    return 0


class _Refused(Exception):
    """What gh prints on stderr before exiting 1."""


def api(args: list[str], state: dict) -> str:
    out = ""
    method = option(args, "-X") or "GET"
    path = next(a for a in args[1:] if a.startswith("repos/"))
    parts = path.split("/")
    if parts[3] == "issues" and parts[5] == "comments" and method == "GET":
        # emulates the --jq the action passes: id, body and the author's login and type
        out = "".join(
            json.dumps(
                {
                    "id": c["id"],
                    "body": c["body"],
                    "login": c.get("login", "github-actions[bot]"),
                    "type": c.get("type", "Bot"),
                }
            )
            + "\n"
            for c in state["comments"].get(parts[4], [])
        )
    elif parts[3] == "issues" and parts[5] == "comments" and method == "POST":
        state["next_id"] += 1
        # the author is whoever holds the token: the workflow's bot unless a test says otherwise
        login = os.environ.get("FAKE_GH_USER", "github-actions[bot]")
        state["comments"].setdefault(parts[4], []).append(
            {
                "id": state["next_id"],
                "body": body_from(args),
                "login": login,
                "type": "Bot" if login.endswith("[bot]") else "User",
            }
        )
    elif parts[3] == "issues" and parts[4] == "comments" and method == "PATCH":
        for comments in state["comments"].values():
            for comment in comments:
                if comment["id"] == int(parts[5]):
                    comment["body"] = body_from(args)
    elif parts[3] == "commits" and parts[5] == "pulls":
        out = "".join(f"{n}\n" for n in state["pulls"].get(parts[4], []))
    elif parts[3] == "check-runs" and method == "POST":
        if not state.get("checks_writable", True):
            raise _Refused("gh: HTTP 403: Resource not accessible by integration")
        fields = dict(
            arg.split("=", 1) for arg in args if "=" in arg and not arg.startswith("repos/")
        )
        state.setdefault("check_runs", []).append(
            {
                "name": fields["name"],
                "head_sha": fields["head_sha"],
                "external_id": fields["external_id"],
                "app": os.environ.get("FAKE_GH_APP", "github-actions"),
            }
        )
    elif parts[3] == "commits" and parts[5] == "check-runs":  # emulates the --jq the action passes
        out = "".join(
            json.dumps({"external_id": run["external_id"], "app": run.get("app")}) + "\n"
            for run in state.get("check_runs", [])
            if run["head_sha"] == parts[4] and run["name"] == "ideogram-org plan"
        )
    elif parts[3] == "pulls" and len(parts) == 5:
        out = state.get("heads", {}).get(parts[4], "") + "\n"
    else:
        raise _Refused(f"fake gh: unknown api call {path}")
    return out


def issue(args: list[str], state: dict) -> str:
    out = ""
    if args[:2] == ["issue", "list"]:
        out = json.dumps(
            [{"number": i["number"], "title": i["title"]} for i in state["issues"] if i["open"]]
        )
    elif args[:2] == ["issue", "create"]:
        number = len(state["issues"]) + 1
        state["issues"].append(
            {
                "number": number,
                "title": option(args, "--title"),
                "body": body_from(args),
                "open": True,
                "comments": [],
            }
        )
    elif args[:2] == ["issue", "edit"]:
        state["issues"][int(args[2]) - 1]["body"] = body_from(args)
    elif args[:2] == ["issue", "close"]:
        issue = state["issues"][int(args[2]) - 1]
        issue["open"] = False
        issue["comments"].append(option(args, "--comment"))
    else:
        raise _Refused(f"fake gh: unknown command {args[:2]}")
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
