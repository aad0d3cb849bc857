"""The shape of the package: what a newcomer relies on when reading it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import layers

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


@pytest.mark.parametrize(
    "module",
    [
        "reconciler.planning.planner",
        "reconciler.model.plan",
        "reconciler.model.drift",
        "reconciler.planning.staleness",
        "reconciler.render.plan",
        "reconciler.render.drift",
        "reconciler.cli",
    ],
)
def test_the_pure_layers_do_not_import_the_http_client(module: str) -> None:
    code = (
        f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'httpcore')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", f"{module} loads {result.stdout.strip()}"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_follows_the_layers_and_none_makes_a_circle() -> None:
    """model and planning do no I/O; api never imports planning, render, execution, the store
    or the sandbox; nothing below the front ends imports them; no two modules import each
    other (tests/layers.py states every rule)."""
    assert layers.violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("module", "line", "why"),
    [
        ("api/client.py", "from ..planning import planner", "api may not import planning"),
        ("model/plan.py", "import httpx", "model does no I/O, yet imports httpx"),
        ("planning/planner.py", "from ..config import loader", "the desired-state types only"),
        ("service/__init__.py", "from ..cli import common", "service may not import frontend"),
        ("sandbox/state.py", "from ..api.client import ApiClient", "the endpoint table only"),
        ("render/rows.py", "from . import markdown", "import circle"),
    ],
)
def test_a_forbidden_import_is_caught(tmp_path: Path, module: str, line: str, why: str) -> None:
    """The layer check can fail: each never-rule, broken once in a copy of the package."""
    copy = tmp_path / "reconciler"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n\ndef _broken() -> None:\n    {line}\n")
    found = layers.violations(copy)
    assert any(why in v for v in found), found


def test_endpoint_paths_are_spelled_only_in_the_endpoint_table() -> None:
    spelled = [
        str(p.relative_to(PACKAGE))
        for p in _sources()
        if "/manage/api" in p.read_text() and p.name != "endpoints.py"
    ]
    assert spelled == []


def test_the_api_version_choices_come_from_the_endpoint_table() -> None:
    from reconciler.api.endpoints import API_VERSION_CHOICES, API_VERSIONS
    from reconciler.sandbox import API_VERSIONS as SANDBOX_VERSIONS

    assert SANDBOX_VERSIONS is API_VERSIONS
    assert ("auto", *API_VERSIONS) == API_VERSION_CHOICES


def test_help_loads_no_heavy_library() -> None:
    """`ideogram-org --help` starts fast because a command imports what it needs when it runs."""
    code = (
        "import sys; from reconciler.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('pydantic', 'httpx', 'ruamel.yaml', 'email_validator', "
        "'deepdiff') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_renderer_in_the_registry_exists_and_every_format_a_command_offers_is_there() -> None:
    from reconciler.render.registry import formats, renderer

    for subject in ("plan", "drift", "apply", "usage"):
        for fmt in formats(subject):
            assert callable(renderer(subject, fmt)), (subject, fmt)
    assert set(formats("usage")) >= {"text", "json", "csv", "html"}
    assert set(formats("plan")) == {"text", "json", "markdown"}
