"""The console script ends a short command without tearing the interpreter down (os._exit after
flushing the standard streams): what a user sees must not change for it, output and exit codes.
Run as the user runs it, in its own process, its output piped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_whole_output_arrives_through_a_pipe() -> None:
    done = _run("schema")
    assert done.returncode == 0, done.stderr
    assert done.stdout == CliRunner().invoke(main, ["schema"]).output
    assert json.loads(done.stdout)["title"].startswith("ideogram-org desired state")


def test_errors_keep_their_exit_code_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\norganizations:\n  acme:\n    members:\n      - email: 5\n")
    done = _run("validate", "-c", str(bad))
    assert done.returncode == 1
    assert f"{bad}:5:" in done.stderr and "problem(s)" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = _run("no-such-command")
    assert unknown.returncode == 1 and "No such command" in unknown.stderr


def test_a_good_file_says_so_and_exits_0() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "acme" / "ideogram-org.yaml"
    done = _run("validate", "-c", str(example))
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout + done.stderr
