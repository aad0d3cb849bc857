"""The git commands the git state store runs: plumbing only, so no work tree, index or user
configuration of identity is needed, and every ref update on the remote is a compare-and-swap.

A token for an https remote (IDEOGRAM_ORG_STATE_TOKEN; the Action passes the workflow token) goes
to git as an HTTP header through the environment, as actions/checkout does, never on a command
line; every message git prints is scrubbed of it before anyone sees it.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..defaults import MAX_SERVER_MESSAGE, STATE_TOKEN_ENV
from .state import StateError

NETWORK_TIMEOUT = 120.0  # seconds for one fetch or push
LOCAL_TIMEOUT = 60.0
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def display_url(url: str) -> str:
    """A remote's address without any user or password in it."""
    return _USERINFO.sub("", url)


@dataclass(frozen=True)
class PushResult:
    accepted: bool
    message: str = ""  # why not, when a rejection is not a moved branch


class Git:
    """Runs git against one cache repository (bare) and one remote."""

    def __init__(self, repository: Path, url: str, actor: str) -> None:
        self.repository = repository
        self.url = url
        self.token = os.environ.get(STATE_TOKEN_ENV) or ""
        self.env = self._environment(actor)

    def _environment(self, actor: str) -> dict[str, str]:
        name = f"ideogram-org ({actor})"
        env = {
            **os.environ,
            "GIT_DIR": str(self.repository),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "SSH_ASKPASS": "true",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": "ideogram-org@localhost",
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": "ideogram-org@localhost",
        }
        env.pop(STATE_TOKEN_ENV, None)
        if self.token and self.url.startswith("https://"):
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraheader",
                    "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
                }
            )
        return env

    def scrub(self, text: str) -> str:
        """git's words without the token (plain or in its header form) or a URL's password."""
        if self.token:
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            text = text.replace(self.token, "***").replace(basic, "***")
        text = " ".join(_USERINFO.sub("", text).split())
        return text[:MAX_SERVER_MESSAGE]

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        network: bool = False,
        ok_codes: tuple[int, ...] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            done = subprocess.run(
                ["git", *args],
                input=stdin,
                capture_output=True,
                env=self.env,
                timeout=NETWORK_TIMEOUT if network else LOCAL_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise StateError(
                "the git state store needs the git program, which is not installed"
            ) from None
        except subprocess.TimeoutExpired:
            raise StateError(
                f"git {args[0]} against {display_url(self.url)} took longer than "
                f"{NETWORK_TIMEOUT:.0f} s; nothing was sent to the organization"
            ) from None
        if done.returncode not in ok_codes:
            raise StateError(
                f"git {args[0]} failed: {self.scrub(done.stderr.decode(errors='replace'))}"
            )
        return done

    def init(self) -> None:
        if not (self.repository / "HEAD").exists():
            self.repository.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.run("init", "--quiet", "--bare", str(self.repository))

    def fetch(self, branch: str, into: str) -> str:
        """The remote branch's tip, fetched into the ref `into`; "" when the branch does not
        exist yet."""
        done = self.run(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            self.url,
            f"+refs/heads/{branch}:{into}",
            network=True,
            ok_codes=(0, 128),
        )
        if done.returncode == 128:
            words = done.stderr.decode(errors="replace")
            if "couldn't find remote ref" in words or "could not find remote ref" in words:
                self.run("update-ref", "-d", into)
                return ""
            raise StateError(
                f"git fetch from {display_url(self.url)} failed: {self.scrub(words)}; nothing "
                "was sent to the organization"
            )
        return self.rev(into)

    def rev(self, ref: str) -> str:
        done = self.run("rev-parse", "--verify", "--quiet", ref, ok_codes=(0, 1))
        return done.stdout.decode().strip() if done.returncode == 0 else ""

    def is_ancestor(self, older: str, newer: str) -> bool:
        done = self.run("merge-base", "--is-ancestor", older, newer, ok_codes=(0, 1, 128))
        return done.returncode == 0

    def files(self, commit: str) -> dict[str, bytes]:
        """Every file of a commit's tree, by path."""
        listing = self.run("ls-tree", "-r", "-z", commit).stdout.split(b"\0")
        entries = []
        for entry in listing:
            if not entry:
                continue
            meta, _, raw_path = entry.partition(b"\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == b"blob":
                entries.append((raw_path.decode(errors="replace"), parts[2].decode()))
        if not entries:
            return {}
        batch = self.run(
            "cat-file", "--batch", stdin="".join(f"{oid}\n" for _, oid in entries).encode()
        ).stdout
        found: dict[str, bytes] = {}
        position = 0
        for path, _ in entries:
            header_end = batch.index(b"\n", position)
            size = int(batch[position:header_end].split()[2])
            start = header_end + 1
            found[path] = batch[start : start + size]
            position = start + size + 1
        return found

    def commit(self, parent: str, files: dict[str, bytes], message: str) -> str:
        """A commit whose tree holds exactly `files` (paths at most one folder deep)."""
        names = sorted(files)
        oids = [self._blob(files[name]) for name in names]
        folders: dict[str, list[str]] = {}
        root: list[str] = []
        for name, oid in zip(names, oids, strict=True):
            folder, _, leaf = name.rpartition("/")
            line = f"100644 blob {oid}\t{leaf or folder}"
            (folders.setdefault(folder, []) if folder else root).append(line)
        for folder, lines in folders.items():
            subtree = self._tree(lines)
            root.append(f"040000 tree {subtree}\t{folder}")
        args = ["commit-tree", self._tree(root), "-m", message]
        if parent:
            args += ["-p", parent]
        return self.run(*args).stdout.decode().strip()

    def _tree(self, lines: list[str]) -> str:
        return self.run("mktree", stdin=("\n".join(lines) + "\n").encode()).stdout.decode().strip()

    def _blob(self, content: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", stdin=content).stdout.decode().strip()

    def push(self, commit: str, branch: str, expected: str) -> PushResult:
        """Move the remote branch to `commit` only if it is still at `expected` ("" for a branch
        that must not exist yet): the compare-and-swap every lock and record rests on."""
        done = self.run(
            "push",
            "--porcelain",
            "--quiet",
            f"--force-with-lease=refs/heads/{branch}:{expected}",
            self.url,
            f"{commit}:refs/heads/{branch}",
            network=True,
            ok_codes=(0, 1, 128),
        )
        if done.returncode == 0:
            return PushResult(True)
        words = (done.stdout + b"\n" + done.stderr).decode(errors="replace")
        moved = ("stale info", "fetch first", "non-fast-forward", "already exists")
        if "[rejected]" in words and any(m in words for m in moved):
            return PushResult(False)
        raise StateError(
            f"git push to {display_url(self.url)} failed: {self.scrub(words)}; give the run "
            f"write access to the branch {branch}"
        )
