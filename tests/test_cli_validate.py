from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main

ROOT = Path(__file__).resolve().parent.parent
INVALID = ROOT / "tests" / "fixtures" / "invalid"


def test_validate_ok() -> None:
    result = CliRunner().invoke(
        main, ["validate", "-c", str(ROOT / "examples/acme/ideogram-org.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "valid" in result.stderr


def test_validate_reports_located_problems_and_exits_1() -> None:
    path = INVALID / "unknown_field.yaml"
    result = CliRunner().invoke(main, ["validate", "-c", str(path)])
    assert result.exit_code == 1
    assert f"{path}:7:9: unknown field 'rol'; did you mean 'role'?" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_validate_json_lists_problems() -> None:
    path = INVALID / "bad_role.yaml"
    result = CliRunner().invoke(main, ["validate", "-c", str(path), "--output", "json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert problems == [
        {
            "file": str(path),
            "line": 9,
            "column": 15,
            "message": "organizations.acme.members[1].role: Input should be 'OWNER' or "
            "'MEMBER', got 'ADMIN'",
        }
    ]


def test_validate_json_valid_is_empty_list() -> None:
    result = CliRunner().invoke(
        main,
        ["validate", "-c", str(ROOT / "examples/minimal/ideogram-org.yaml"), "--output", "json"],
    )
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_config_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_ORG_CONFIG", str(ROOT / "examples/minimal/ideogram-org.yaml"))
    assert CliRunner().invoke(main, ["validate"]).exit_code == 0


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr and "Traceback" not in result.stderr
