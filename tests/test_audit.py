"""The audit log's hash chain: verify passes on what apply wrote and finds every kind of
tampering."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.store.audit import GENESIS, AuditLog, record_hash, repair_log, verify_log


def _write(path: Path, count: int = 5) -> list[dict]:
    log = AuditLog(path, run_id="r1", actor="tester")
    return [
        log.append(
            "write",
            organization="acme",
            action="member.add",
            targets=[f"u{i}@x.example"],
            outcome="ok",
            plan_hash="p" * 64,
        )
        for i in range(count)
    ]


def test_records_chain_from_genesis(tmp_path):
    records = _write(tmp_path / "a.jsonl")
    assert records[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:], strict=False))
    assert all(record_hash(r) == r["hash"] for r in records)
    found = verify_log(tmp_path / "a.jsonl")
    assert (found.records, found.problems, found.torn_tail) == (5, [], None)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


@pytest.mark.parametrize(
    "tamper,line,words",
    [
        ("edit", 3, "edited"),
        ("remove", 3, "chain is broken"),
        ("reorder", 2, "chain is broken"),
        ("garbage", 4, "not a valid audit record"),
    ],
)
def test_tampering_is_found_with_its_line(tmp_path, tamper, line, words):
    path = tmp_path / "a.jsonl"
    _write(path)
    lines = _lines(path)
    if tamper == "edit":
        record = json.loads(lines[2])
        record["outcome"] = "failed"
        lines[2] = json.dumps(record) + "\n"
    elif tamper == "remove":
        del lines[2]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[3] = "{not json\n"
    path.write_text("".join(lines))
    problems = verify_log(path).problems
    assert problems and problems[0].line == line and words in problems[0].message
    result = CliRunner().invoke(main, ["audit", "verify", str(path)])
    assert result.exit_code == 1
    assert f"line {line}: " in result.stderr


def test_verify_command_passes_on_an_intact_log(tmp_path):
    _write(tmp_path / "a.jsonl")
    result = CliRunner().invoke(main, ["audit", "verify", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 0 and "5 record(s), hash chain intact" in result.stdout


def _append_many(path: str, worker: int, count: int) -> None:
    log = AuditLog(path, run_id=f"run{worker}", actor=f"w{worker}")
    for i in range(count):
        log.append(
            "write",
            organization="acme",
            action="member.add",
            targets=[f"{worker}-{i}" * 20],
            outcome="ok",
            plan_hash="p" * 64,
        )


def test_two_processes_appending_at_once_never_interleave(tmp_path):
    path = str(tmp_path / "shared.jsonl")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, w, 150)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    found = verify_log(path)
    assert (found.records, found.problems) == (300, [])
    runs = [json.loads(line)["run_id"] for line in Path(path).read_text().splitlines()]
    assert runs.count("run0") == runs.count("run1") == 150


def test_every_record_of_a_real_run_follows_the_committed_audit_schema(tmp_path, monkeypatch):
    """A run that adds, promotes, creates keys, removes and deactivates, then a crash's intent
    settled by the next run, then a torn tail sealed: every record has the committed shape."""
    import jsonschema

    from reconciler.model.audit import audit_record_json_schema
    from tests.scenario import cli, scenario, served, write_file

    schema = json.loads(
        (Path(__file__).parent.parent / "schemas" / "audit-record.schema.json").read_text()
    )
    assert audit_record_json_schema() == schema, "run `ideogram-org audit-schema > schemas/...`"
    monkeypatch.chdir(tmp_path)
    s = scenario("2026-06")
    path = write_file(tmp_path, s.text)
    log = AuditLog(tmp_path / "ideogram-org.audit.jsonl")
    log.append("write.intent", organization="acme", action="member.add", targets=["x@acme.example"])
    with served(s.state) as (_, url):
        result = cli(url, "apply", "-c", str(path), "--auto-approve", "--secrets-file", "k.jsonl")
    assert result.exit_code == 0, result.output
    with (tmp_path / "ideogram-org.audit.jsonl").open("a") as handle:
        handle.write('{"torn')
    repair_log(tmp_path / "ideogram-org.audit.jsonl")
    lines = (tmp_path / "ideogram-org.audit.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]
    assert {r["event"] for r in records} >= {
        "run.start",
        "write.intent",
        "write",
        "write.settled",
        "key.bound",
        "run.end",
        "audit.repair",
    }
    for record in records:
        jsonschema.validate(record, schema)
