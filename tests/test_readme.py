"""The README's commands are the ones CI runs, and every example in it runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.config.loader import load_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.+?)\n```", README, flags=re.S)


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = _blocks("sh")[:2]
    assert len(setup) == 2
    assert all("\n" not in c for c in setup), "each set-up command is one copy-paste line"
    assert "plan --sandbox" in setup[0] and "pytest" in setup[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = _blocks("sh")[1]
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.parametrize("snippet", _blocks("yaml"))
def test_readme_yaml_is_a_valid_desired_state_file(snippet: str) -> None:
    load_text(snippet, "README.md")


@pytest.mark.parametrize("script", _blocks("sh")[2:], ids=lambda s: s.splitlines()[0][:50])
def test_readme_examples_run(tmp_path: Path, script: str) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDEOGRAM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    result = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
