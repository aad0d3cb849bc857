"""The README's commands are the ones CI runs, and its tour runs as written in a fresh venv."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
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


def _checkout_copy(destination: Path) -> Path:
    """The files a fresh clone would hold (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A copy of the checkout with its own `.venv` made by `python -m venv`, the package installed
    into it
    by pip (its own `ideogram-org` script). The dependencies come from this test run's environment
    through a .pth file, so the test needs no network; everything else is what a user gets."""
    clone = _checkout_copy(tmp_path_factory.mktemp("clone"))
    subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, check=True)
    site = subprocess.run(
        [
            str(clone / ".venv" / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            str(clone / ".venv" / "bin" / "pip"),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            ".",
        ],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    ours = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDEOGRAM_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != ours)
    return clone, env


@pytest.mark.slow
def test_the_readme_tour_runs_as_written_in_a_fresh_venv(fresh_clone) -> None:
    clone, env = fresh_clone
    assert (
        shutil.which("ideogram-org", path=env["PATH"]) is None
    )  # only .venv/bin/ideogram-org exists
    for script in _blocks("sh")[2:]:
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{script}\n---\n{output}"
        assert "command not found" not in output and "Traceback" not in output


@pytest.mark.slow
def test_the_pre_commit_hook_validates_the_examples(fresh_clone, tmp_path) -> None:
    """`pre-commit try-repo` installs the hook from the checkout as a team's pre-commit would."""
    clone, env = fresh_clone
    subprocess.run(["git", "init", "-q"], cwd=clone, check=True)
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x"],
        cwd=clone,
        check=True,
    )
    bad = clone / "broken" / "ideogram-org.yaml"
    bad.parent.mkdir()
    bad.write_text(
        "version: 1\norganizations:\n  acme:\n    members:\n      - {handle: ' x', role: OWNER}\n"
    )
    pre_commit = [
        str(Path(sys.executable).parent / "pre-commit"),
        "try-repo",
        str(clone),
        "ideogram-org-validate",
    ]
    hook_env = {**env, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    good = subprocess.run(
        [
            *pre_commit,
            "--files",
            "examples/acme/ideogram-org.yaml",
            "examples/minimal/ideogram-org.yaml",
        ],
        cwd=clone,
        env=hook_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    failed = subprocess.run(
        [*pre_commit, "--files", "broken/ideogram-org.yaml"],
        cwd=clone,
        env=hook_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert failed.returncode == 1
    assert (
        "broken/ideogram-org.yaml:5:18: organizations.acme.members[0].handle: ' x' must not start"
        in failed.stdout
    )
