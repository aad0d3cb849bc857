"""Hostile audit logs: `audit verify` and `audit repair` answer each in lines, never a traceback,
and apply refuses to add to a log it cannot trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.store.audit import AuditLog

GOOD = 3  # whole records before the hostile line


def _log(path: Path) -> bytes:
    log = AuditLog(path)
    for n in range(GOOD):
        log.append("run.start", plan_hash=f"p{n}")
    return path.read_bytes()


HOSTILE: dict[str, bytes] = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000 + b"\n",
    "a list": b"[1, 2, 3]\n",
    "hash is a list": b'{"hash": [1], "prev_hash": "0", "event": "run.start"}\n',
    "hash is a number": b'{"hash": 7, "prev_hash": 7, "event": "write.intent"}\n',
    "lone surrogate": b'{"hash": "h", "prev_hash": "p", "event": "x", "actor": "\\ud800"}\n',
    "not utf-8": b'{"hash": "\xff\xfe", "prev_hash": "p"}\n',
    "results not a list": b'{"hash": "h", "prev_hash": "p", "event": "write", "action": '
    b'"key.create", "outcome": "ok", "results": 5}\n',
    "keys of strings": b'{"hash": "h", "prev_hash": "p", "event": "key.bound", "keys": ["x"]}\n',
    "torn_bytes not base64": b'{"torn\n{"hash": "h", "prev_hash": "p", "event": "audit.repair", '
    b'"torn_line": 4, "torn_bytes": 12}\n',
    "huge number": b'{"hash": "h", "prev_hash": "p", "n": ' + b"9" * 5000 + b"}\n",
    "NUL bytes": b"\x00\x00\x00\n",
    "empty lines": b"\n\n\n",
    "torn after junk": b'junk\n{"hash": "ab',
    "only a torn line": b'{"hash": "ab',
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_audit_log_gets_lines_not_a_traceback(tmp_path, name):
    path = tmp_path / "audit.jsonl"
    good = _log(path) if name != "only a torn line" else b""
    path.write_bytes(good + HOSTILE[name])
    runner = CliRunner()
    verified = runner.invoke(main, ["audit", "verify", str(path)])
    assert verified.exit_code == 1, verified.output
    assert (
        "Traceback" not in verified.output
        and verified.exception is None
        or isinstance(verified.exception, SystemExit)
    )
    repaired = runner.invoke(main, ["audit", "repair", str(path)])
    assert repaired.exit_code in (0, 1) and "Traceback" not in repaired.output
    assert repaired.exception is None or isinstance(repaired.exception, SystemExit)
    assert path.read_bytes().startswith(good)  # nothing written before was changed


@pytest.mark.parametrize("before", [b"", b"junk\n"])
def test_a_torn_tail_is_sealed_even_after_a_damaged_line(tmp_path, before):
    """The torn tail is sealed onto the last record that is one; the junk stays, and verify
    names it."""
    path = tmp_path / "audit.jsonl"
    good = _log(path)
    path.write_bytes(good + before + b'{"hash": "ab')
    repaired = CliRunner().invoke(main, ["audit", "repair", str(path)])
    assert repaired.exit_code == 0 and "sealed a torn record" in repaired.stdout
    verified = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert "torn record" not in verified.stderr
    assert verified.exit_code == (1 if before else 0), verified.output


def test_a_torn_tail_after_whole_records_is_repaired_and_verifies(tmp_path):
    path = tmp_path / "audit.jsonl"
    good = _log(path)
    path.write_bytes(good + b'{"hash": "ab')
    assert CliRunner().invoke(main, ["audit", "repair", str(path)]).exit_code == 0
    verified = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert verified.exit_code == 0, verified.output
    assert json.loads(path.read_text().splitlines()[-1])["event"] == "audit.repair"
