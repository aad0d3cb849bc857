"""The package's import layers, read from its source: which module imports which, at run time.

The folders follow the data flow (config and sources -> api -> planning -> render -> execution
-> store and delivery), with the service layer above them and the two front ends on top. The
rules below are the never-rules of that flow; `violations` names every import that breaks one.
Imports under `if TYPE_CHECKING:` are left out: they are never executed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Libraries that do I/O, or talk to people: never in the data model or the pure planner.
IO_LIBRARIES = frozenset(
    {
        "httpx",
        "httpcore",
        "ruamel",
        "click",
        "jinja2",
        "socket",
        "subprocess",
        "fcntl",
        "tempfile",
        "shutil",
        "threading",
        "concurrent",
        "signal",
        "reconciler.safe_files",
    }
)


def layer_of(module: str) -> str:
    """The layer a module of the package belongs to."""
    parts = module.split(".")
    if parts[0] != "reconciler":
        return "external"
    if len(parts) == 1 or parts[1] in ("errors", "defaults", "exit_codes"):
        return "base"
    if parts[1] in ("cli", "github_action"):
        return "frontend"
    if parts[1] == "store":
        return "store"
    return {"safe_files": "files"}.get(parts[1], parts[1])


# layer -> the layers of the package it may import (besides itself and base).
ALLOWED: dict[str, frozenset[str]] = {
    "model": frozenset(),
    "config": frozenset({"model", "files"}),
    "api": frozenset({"model", "config"}),
    "planning": frozenset({"model", "config"}),
    "render": frozenset({"model", "planning"}),
    "execution": frozenset({"model", "api", "planning", "store", "delivery", "files"}),
    "store": frozenset({"model", "files"}),
    # where members come from: the file's source entries and team files, read from disk or a
    # directory (the endpoint rule, as api has it)
    "sources": frozenset({"model", "config", "api", "files"}),
    # the sinks a new key's secret goes to: built from the file's entries, on the API's rule for
    # what may travel over plain http
    "delivery": frozenset({"model", "config", "api", "files"}),
    "sandbox": frozenset({"model", "api", "files"}),
    "service": frozenset(
        {
            "model",
            "config",
            "api",
            "planning",
            "execution",
            "store",
            "delivery",
            "sources",
            "sandbox",
            "files",
        }
    ),
    "frontend": frozenset(
        {
            "model",
            "config",
            "api",
            "planning",
            "render",
            "execution",
            "store",
            "delivery",
            "sources",
            "service",
            "sandbox",
            "files",
            "frontend",
        }
    ),
    "files": frozenset(),
}
# What the planner may use of config: the desired-state types, not the loader (file I/O).
PLANNING_CONFIG = frozenset({"reconciler.config.models", "reconciler.config.source_models"})
# What api and the sandbox may use of the package below them.
API_CONFIG = frozenset({"reconciler.config.models"})
SANDBOX_API = frozenset({"reconciler.api.endpoints", "reconciler.api.parameters"})
# What delivery may use of config and api: the file's sink entries, and the endpoint rule.
DELIVERY_USES = frozenset({"reconciler.config.models", "reconciler.api.credentials"})
NO_IO_LAYERS = frozenset({"model", "planning"})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package)
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(root: Path) -> list[Import]:
    """Every run-time import in the package at `root`, with its targets resolved."""
    found: list[Import] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        is_package = path.name == "__init__.py"
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = (
                    _resolve(module, is_package, node.level, node.module)
                    if node.level
                    else node.module or ""
                )
                submodules = [f"{target}.{alias.name}" for alias in node.names]
                submodules = [m for m in submodules if _is_module(root, m)]
                # `from . import common` runs the package's __init__ first, but what it uses is
                # the submodule: only that is an edge of the graph
                if len(submodules) < len(node.names):
                    found.append(Import(module, target, node.lineno))
                found += [Import(module, m, node.lineno) for m in submodules]
    return found


def _is_module(root: Path, dotted: str) -> bool:
    where = root.parent / Path(*dotted.split("."))
    return where.with_suffix(".py").exists() or (where / "__init__.py").exists()


def _breaks(imp: Import) -> str | None:
    mine, theirs = layer_of(imp.module), layer_of(imp.target)
    if theirs == "external":
        top = imp.target.split(".")[0]
        if mine in NO_IO_LAYERS and top in IO_LIBRARIES:
            return f"{mine} does no I/O, yet imports {imp.target}"
        return None
    if mine in NO_IO_LAYERS and imp.target in IO_LIBRARIES:
        return f"{mine} does no I/O, yet imports {imp.target}"
    if theirs in (mine, "base") or imp.target == "reconciler":
        return None
    if theirs not in ALLOWED.get(mine, frozenset()):
        return f"{mine} may not import {theirs} ({imp.target})"
    if mine == "planning" and theirs == "config" and imp.target not in PLANNING_CONFIG:
        return f"planning may use the desired-state types only, not {imp.target}"
    if mine == "api" and theirs == "config" and imp.target not in API_CONFIG:
        return f"api may use the desired-state types only, not {imp.target}"
    if mine == "sandbox" and theirs == "api" and imp.target not in SANDBOX_API:
        return f"the sandbox may share the endpoint table only, not {imp.target}"
    if mine == "sources" and theirs == "api" and imp.target not in DELIVERY_USES:
        return f"sources may use the endpoint rule only, not {imp.target}"
    if mine == "delivery" and theirs in ("config", "api") and imp.target not in DELIVERY_USES:
        return f"delivery may use the sink entries and the endpoint rule only, not {imp.target}"
    return None


def cycles(found: list[Import]) -> list[list[str]]:
    """Circles of modules that import each other (at any depth), each named once."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.target.startswith("reconciler.") and imp.target != imp.module:
            graph.setdefault(imp.module, set()).add(imp.target)
    circles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start and frozenset(path) not in seen:
                    seen.add(frozenset(path))
                    circles.append(path)
                elif nxt not in path and nxt > start:
                    stack.append((nxt, [*path, nxt]))
    return circles


def violations(root: Path) -> list[str]:
    """Every import that breaks a layer rule, and every circle, as `module:line: why`."""
    found = imports_of(root)
    broken = [f"{imp.module}:{imp.line}: {why}" for imp in found if (why := _breaks(imp))]
    broken += ["import circle: " + " -> ".join([*circle, circle[0]]) for circle in cycles(found)]
    return broken
