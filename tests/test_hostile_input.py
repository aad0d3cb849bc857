"""Hostile input and transport: one test (or table) per finding of the hardening issue."""

from __future__ import annotations

import json
import os
import socket
import threading
import tracemalloc
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reconciler import service
from reconciler.api.client import ApiClient
from reconciler.cli import main
from reconciler.config.loader import load_config, load_text
from reconciler.errors import ConfigError
from reconciler.model.plan import NoApproval
from reconciler.model.report import ApplyReport
from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport
from reconciler.sandbox.demo import DEMO_ORG_ID, demo_state
from reconciler.sandbox.state import b64id
from tests.hostile import alias_bomb, deep_flow
from tests.scenario import TOKEN, cli, served

ROOT = Path(__file__).resolve().parent.parent
ACME = (ROOT / "examples" / "acme" / "ideogram-org.yaml").read_text()
OWNER = (
    "version: 1\norganizations:\n  acme:\n    members:\n      - {email: a@x.example, role: OWNER}\n"
)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refusal(text: str) -> str:
    with pytest.raises(ConfigError) as refused:
        load_text(text, "f.yaml")
    return str(refused.value)


# --- 1 and 8: bounded loading ---------------------------------------------------------------------


@pytest.mark.parametrize("levels", [6, 10])
def test_an_alias_bomb_is_refused_in_little_memory(levels):
    text = alias_bomb(levels, 10)
    assert len(text) < 700
    tracemalloc.start()
    try:
        message = _refusal(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "alias bomb" in message and message.startswith("f.yaml:")
    assert peak < 100 * 1024 * 1024


def test_deep_flow_nesting_is_refused_before_the_scanner_runs():
    assert (
        _refusal(deep_flow(100_000))
        == "f.yaml:2:80: the document is nested more than 64 levels deep"
    )


def test_a_file_over_the_size_limit_is_refused_unless_raised(here):
    Path("big.yaml").write_text(ACME + "#" * 2000 + "\n")
    result = CliRunner().invoke(main, ["validate", "-c", "big.yaml", "--max-file-size", "2KB"])
    assert (
        result.exit_code == 1
        and "over the limit of 2,000; raise it with --max-file-size" in result.stderr
    )
    assert (
        CliRunner()
        .invoke(main, ["validate", "-c", "big.yaml", "--max-file-size", "1MiB"])
        .exit_code
        == 0
    )
    with pytest.raises(ConfigError):
        load_config("big.yaml", max_bytes=100)


# --- 6: strict scalars, keys and identifiers ------------------------------------------------------

REJECTED = [
    ("version: 1.0\norganizations: {}\n", "1:10: unsupported version 1.0"),
    ("version: 0x1\norganizations: {}\n", "1:10: write numbers in plain decimal"),
    ("version: !!float 1\norganizations: {}\n", "1:10: unsupported version !!float 1"),
    ("version: +1\norganizations: {}\n", "1:10: unsupported version +1"),
    (
        "version: 1\n? [a, b]\n: 1\norganizations: {}\n",
        "2:3: mapping keys must be plain strings, not a list",
    ),
    (
        OWNER.replace("organizations:\n  acme:", "organizations:\n  12:"),
        "3:3: mapping keys must be plain strings",
    ),
    (
        OWNER + "    api_keys:\n      '': {id: K1}\n",
        "the name '' in organizations.acme.api_keys: must not be empty",
    ),
    (OWNER + "      - {handle: '   '}\n", "handle: '   ' must not start or end with whitespace"),
    (OWNER + "      - {user_id: ' x'}\n", "user_id: ' x' must not start or end with whitespace"),
    (
        OWNER + "    api_keys:\n      ci: {id: ' K1'}\n",
        "id: ' K1' must not start or end with whitespace",
    ),
    (
        OWNER + '      - {handle: "bo\\u200bb"}\n',
        "holds an invisible or control character (U+200B)",
    ),
    (OWNER + '      - {handle: "bo\\ufeffb"}\n', "(U+FEFF)"),
    (OWNER + '      - {handle: "bo\\eb"}\n', "(U+001B)"),
    (OWNER + '      - {handle: "bo\\ab"}\n', "(U+0007)"),
    (OWNER + '      - {handle: "bo\\rb"}\n', "(U+000D)"),
    (OWNER + "      - {handle: bo\x07b}\n", "YAML syntax error"),
    (
        "version: 1\norganizations: !foo {acme: {}}\n",
        "2:16: explicit YAML tags are not supported (!foo)",
    ),
    (
        "version: 1\norganizations: !!omap [{acme: {}}]\n",
        "2:16: explicit YAML tags are not supported (!!omap)",
    ),
    (OWNER + "      - {handle: !!binary aGk=}\n", "unsupported YAML value (bytes)"),
]


@pytest.mark.parametrize(("text", "expected"), REJECTED, ids=[e for _, e in REJECTED])
def test_validate_refuses_what_it_should(text, expected):
    assert expected in _refusal(text)


# --- 7: nothing from the file or the server drives the terminal or the comment --------------------

EVIL = "evil\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\r\x1b[2K"


def test_control_sequences_from_the_server_are_shown_escaped(here, api_version):
    state = demo_state(api_version)
    state.users[
        b64id("user_ravi_p")
    ].email_address = f"ravi{EVIL}@acme.example"  # unlisted: a removal
    state.reindex()
    Path("ideogram-org.yaml").write_text(ACME)
    with served(state) as (sandbox, url):
        text = cli(url, "plan")
        markdown = cli(url, "plan", "--output", "markdown")
        drift = cli(url, "drift", "--output", "markdown")
    for output in (text.stdout, markdown.stdout, drift.stdout):
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    assert "ravievil\\x1b]8;;https://evil.example\\x07click" in text.stdout
    assert (
        "`ravievil\\x1b]8;;https://evil.example\\x07click" in drift.stdout
    )  # set as code in the table


def test_a_server_message_cannot_drive_the_terminal_through_an_error(here):
    from reconciler.cli.common import err

    runner = CliRunner()
    with runner.isolation() as (_, _, err_stream):
        err(f"error: {EVIL}")
        shown = err_stream.getvalue().decode()
    assert "\x1b" not in shown and "\\x1b" in shown


# --- 2: no proxy ever sees a loopback call --------------------------------------------------------


class _Listener:
    """A TCP listener on loopback that counts connections and answers nothing useful."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_a_proxy_from_the_environment_receives_nothing_for_a_loopback_endpoint(here, monkeypatch):
    proxy = _Listener()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        Path("ideogram-org.yaml").write_text(ACME)
        with served(demo_state()) as (sandbox, url):
            with httpx.Client(
                trust_env=True
            ) as control:  # the listener does catch what honours the variables
                control.get(url + "/manage/api/profiles")
            assert proxy.connections == 1
            result = CliRunner().invoke(
                main,
                ["plan", "--endpoint", url],
                env={
                    "IDEOGRAM_TOKEN": TOKEN,
                    **{k: proxy.url for k in ("HTTP_PROXY", "ALL_PROXY")},
                },
            )
        assert result.exit_code == 0, result.output
        assert proxy.connections == 1  # the tool's calls went straight to the loopback sandbox
    finally:
        proxy.close()


# --- 3: no token, password or broken URL in any message -------------------------------------------


@pytest.mark.parametrize(
    ("token", "endpoint", "expected"),
    [
        ("abc\ndef-SECRET", "http://127.0.0.1:9", "is not a usable token"),
        ("abcé-SECRET", "http://127.0.0.1:9", "is not a usable token"),
        ("tok", "http://user:pw-SECRET@127.0.0.1:9", "holds a user name or password"),
        ("tok", "http://127.0.0.1:9/\tx", "holds whitespace or a control character"),
        ("tok", "http://[::1:9", "is not a valid URL"),
    ],
)
def test_bad_tokens_and_endpoints_get_one_line_that_repeats_no_secret(
    here, token, endpoint, expected
):
    Path("ideogram-org.yaml").write_text(ACME)
    result = CliRunner().invoke(
        main, ["plan", "--endpoint", endpoint], env={"IDEOGRAM_TOKEN": token}
    )
    assert result.exit_code == 1
    assert expected in result.stderr
    assert "SECRET" not in result.output and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


# --- 4: no symbolic link is followed --------------------------------------------------------------


@pytest.mark.parametrize("option", ["--secrets-file", "--audit-log"])
@pytest.mark.parametrize("dangling", [True, False])
def test_secrets_file_and_audit_log_are_never_opened_through_a_link(here, option, dangling):
    target = here / "elsewhere.txt"
    if not dangling:
        target.write_text("")
    os.symlink(target, here / "link")
    Path("ideogram-org.yaml").write_text(
        ACME.replace("    api_keys:\n", "    api_keys:\n      fresh: {}\n")
    )
    with served(demo_state()) as (sandbox, url):
        args = [
            "apply",
            "--auto-approve",
            "--secrets-file",
            "keys.jsonl",
            "--audit-log",
            "audit.jsonl",
        ]
        args[args.index(option) + 1] = "link"
        result = cli(url, *args)
        sent = list(sandbox.write_requests)
    assert result.exit_code == 1 and "is a symbolic link; refusing to follow it" in result.stderr
    assert sent == []  # refused before any write
    assert target.exists() is not dangling and (dangling or target.read_text() == "")


def test_a_plan_file_is_not_written_through_a_link(here):
    os.symlink(here / "elsewhere.json", here / "plan.json")
    Path("ideogram-org.yaml").write_text(ACME)
    result = CliRunner().invoke(main, ["plan", "--sandbox", "--out", "plan.json"])
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    assert not (here / "elsewhere.json").exists()


# --- 5: a redirect is an error, never "applied" ---------------------------------------------------


class _Redirecting(httpx.BaseTransport):
    """The sandbox, except that deactivating a key answers 307 to another host."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.inner = SandboxTransport(sandbox)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/deactivate_api_key"):
            return httpx.Response(
                307, headers={"location": "https://evil.example/steal"}, request=request
            )
        return self.inner.handle_request(request)


def test_a_redirect_to_a_write_is_a_failure_that_names_status_and_host(here, api_version):
    Path("ideogram-org.yaml").write_text(ACME)
    state = demo_state(api_version)
    with ApiClient(SANDBOX_BASE_URL, state.token, transport=_Redirecting(Sandbox(state))) as client:
        planned = service.plan(client, load_config("ideogram-org.yaml"))
        options = service.ApplyOptions(audit_log="audit.jsonl")
        report = service.apply(client, planned, options, NoApproval())
    assert isinstance(report, ApplyReport)
    outcome = next(r for r in report.results if r.change.action == "key.deactivate")
    assert outcome.outcome == "failed"
    assert "answered 307, a redirect to evil.example" in outcome.message
    records = [json.loads(line) for line in Path("audit.jsonl").read_text().splitlines()]
    assert [
        r["outcome"]
        for r in records
        if r.get("action") == "key.deactivate" and r["event"] == "write"
    ] == ["failed"]
    assert state.organizations[DEMO_ORG_ID].api_keys["a2V5X29sZF9wcm90b3R5cGU"].status == "ACTIVE"
