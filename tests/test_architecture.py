"""The shape of the package: what a newcomer relies on when reading it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Functions allowed past the limit, and why. Keep this short.
LONG_FUNCTIONS: dict[str, str] = {}


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


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_the_line_limit() -> None:
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{path.relative_to(PACKAGE)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS:
                    long[name] = lines
    assert long == {}


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
