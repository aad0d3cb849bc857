"""Real directory servers for the tests: Debian's OpenLDAP slapd (loaded with slapadd from an
LDIF, serving on a loopback port) and scim2-server (a SCIM 2.0 service from PyPI) as processes.
`.ci/run` installs slapd; without it (and outside CI) the tests that need it are skipped."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.git_remote import free_port

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SUFFIX = "dc=acme,dc=example"
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "directory-admin-secret"
SCIM_TOKEN = "scim-reader-token"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
sizelimit unlimited
database mdb
maxsize 1073741824
suffix "{suffix}"
rootdn "{admin}"
rootpw {password}
directory {folder}/db
index objectClass eq
limits * size=unlimited size.prtotal=unlimited
"""


def need(program: str) -> None:
    if not Path(program).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{program} is missing: .ci/run installs Debian's slapd")
        pytest.skip(f"{program} is not installed (apt-get install slapd)")


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Slapd:
    def __init__(self, folder: Path, ldif: Path) -> None:
        need(SLAPD)
        need(SLAPADD)
        self.folder = folder
        (folder / "db").mkdir(parents=True)
        config = folder / "slapd.conf"
        config.write_text(
            CONFIG.format(folder=folder, suffix=SUFFIX, admin=ADMIN_DN, password=ADMIN_PASSWORD)
        )
        subprocess.run(
            [SLAPADD, "-q", "-f", str(config), "-l", str(ldif)], check=True, capture_output=True
        )
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(config), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@contextlib.contextmanager
def slapd(folder: Path, ldif: Path) -> Iterator[Slapd]:
    server = Slapd(folder, ldif)
    try:
        yield server
    finally:
        server.stop()


class Scim:
    """scim2-server on a loopback port, filled through its own API."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server = Path(sys.executable).parent / "scim2-server"
        self.process = subprocess.Popen(
            [str(server), "--port", str(self.port), "--bearer-token", SCIM_TOKEN],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process)
        self.client = httpx.Client(
            base_url=self.url,
            headers={
                "Authorization": f"Bearer {SCIM_TOKEN}",
                "Content-Type": "application/scim+json",
            },
            timeout=10,
        )

    def user(self, email: str, active: bool = True) -> str:
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": email.split("@")[0],
            "emails": [{"value": email, "primary": True, "type": "work"}],
            "active": active,
        }
        answer = self.client.post("/Users", json=body)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def group(self, name: str, users: list[str], groups: list[str] = ()) -> str:
        members = [{"value": u, "type": "User"} for u in users]
        members += [{"value": g, "type": "Group"} for g in groups]
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members,
        }
        answer = self.client.post("/Groups", json=body)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
