"""YAML text -> plain data with the line and column of every node, refusing what is hostile.

A pull request can put any bytes in the desired-state file, and the Action plans it on a shared
runner. So besides syntax, this refuses (each as one located problem, quickly and in little
memory): flow collections nested deeper than MAX_DEPTH, aliases that expand to many more nodes
than the document holds (a "billion laughs"), explicit tags, keys that are not plain strings, and
numbers not written in plain decimal.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarint import ScalarInt

from ..errors import ConfigError, Problem

Path_ = tuple[Any, ...]
MAX_DEPTH = 64  # nesting of mappings and lists; the file needs 5
ALIAS_EXPANSION_FACTOR = (
    4  # expanded nodes may be at most this many times the document's own, plus slack
)
ALIAS_EXPANSION_SLACK = 1_000


class Positions:
    """Where each node of the YAML tree stands, by its path of keys and indexes (1-based)."""

    def __init__(self) -> None:
        self.value: dict[Path_, tuple[int, int]] = {(): (1, 1)}
        self.key: dict[Path_, tuple[int, int]] = {}

    def of_value(self, path: Path_) -> tuple[int, int]:
        while path not in self.value:
            path = path[:-1]
        return self.value[path]

    def of_key(self, path: Path_) -> tuple[int, int]:
        return self.key.get(path) or self.of_value(path)


class _Refused(Exception):
    def __init__(self, path: Path_, message: str, at_key: bool = False) -> None:
        super().__init__(message)
        self.path, self.message, self.at_key = path, message, at_key


def _describe_type(node: Any) -> str:
    return {
        "CommentedSeq": "a list",
        "CommentedKeySeq": "a list",
        "CommentedMap": "a mapping",
        "CommentedKeyMap": "a mapping",
        "NoneType": "null",
        "CommentedOrderedMap": "!!omap",
        "CommentedSet": "!!set",
    }.get(type(node).__name__, type(node).__name__)


class _Converter:
    """ruamel's round-trip tree -> builtins, so strict pydantic sees exactly what the user wrote."""

    def __init__(self, positions: Positions, budget: int) -> None:
        self.positions = positions
        self.budget = budget  # nodes that may still be produced
        self.active: set[int] = set()

    def convert(self, node: Any, path: Path_) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _Refused(
                path, "YAML aliases expand to far more nodes than the file holds (an alias bomb?)"
            )
        if len(path) > MAX_DEPTH:
            raise _Refused(path, f"the document is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, CommentedMap | CommentedSeq):
            return self._collection(node, path)
        if isinstance(node, TaggedScalar):
            raise _Refused(path, f"explicit YAML tags are not supported ({node.tag.value})")
        if node is None or isinstance(node, bool | str | float):
            return node if type(node) in (bool, str, float) or node is None else _plain_scalar(node)
        if isinstance(node, int):
            if not _plain_decimal(node):
                raise _Refused(
                    path,
                    "write numbers in plain decimal (no hex, octal, binary, underscores or "
                    "leading zeros)",
                )
            return int(node)
        if isinstance(node, datetime.date) and not isinstance(node, datetime.datetime):
            return node.isoformat()  # a plain date (expires: 2027-01-31), as its ISO text
        raise _Refused(path, f"unsupported YAML value ({type(node).__name__}): use a string")

    def _collection(self, node: CommentedMap | CommentedSeq, path: Path_) -> Any:
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None or type(node) not in (CommentedMap, CommentedSeq):
            raise _Refused(
                path, f"explicit YAML tags are not supported ({tag or _describe_type(node)})"
            )
        if id(node) in self.active:
            raise _Refused(path, "recursive YAML alias")
        self.active.add(id(node))
        try:
            if isinstance(node, CommentedMap):
                return self._mapping(node, path)
            items = []
            for index, item in enumerate(node):
                self._locate(node, index, (*path, index), is_map=False)
                items.append(self.convert(item, (*path, index)))
            return items
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: CommentedMap, path: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, key) if isinstance(key, str) else (*path, repr(key))
            self._locate(node, key, child, is_map=True)
            if type(key) is not str:
                raise _Refused(
                    child,
                    f"mapping keys must be plain strings, not {_describe_type(key)}",
                    at_key=True,
                )
            out[key] = self.convert(node[key], child)
        return out

    def _locate(
        self, node: CommentedMap | CommentedSeq, key: Any, child: Path_, is_map: bool
    ) -> None:
        try:
            if is_map:
                kl, kc = node.lc.key(key)
                self.positions.key[child] = (kl + 1, kc + 1)
                vl, vc = node.lc.value(key)
            else:
                vl, vc = node.lc.item(key)
            self.positions.value[child] = (vl + 1, vc + 1)
        except (KeyError, TypeError, AttributeError):
            pass


def _plain_decimal(node: int) -> bool:
    if type(node) is int:
        return True
    if type(node) is not ScalarInt or getattr(node, "_underscore", None):
        return False  # HexInt, OctalInt, BinaryInt...
    width = getattr(node, "_width", None)
    return width is None or width <= len(str(abs(int(node))))


def _plain_scalar(node: Any) -> Any:
    """ruamel's string and float subclasses (quoted styles, kept formats) as plain values."""
    if isinstance(node, str):
        return str(node)
    return float(node)


def _distinct_nodes(document: Any) -> int:
    """How many nodes the document itself holds, each alias target once."""
    seen: set[int] = set()
    stack = [document]
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, CommentedMap | CommentedSeq):
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, CommentedMap) else node)
    return count


_FLOW = re.compile(r"[\[\]{}'\"#\n]")


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Line and column where flow collections ([ and {) nest past MAX_DEPTH, found before the YAML
    scanner sees them (it takes seconds on a hundred thousand brackets)."""
    depth = 0
    quote = ""
    for match in _FLOW.finditer(text):
        char = match.group()
        if quote:
            if char == quote or char == "\n" and quote == "#":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            quote = "#"
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                return line, match.start() - text.rfind("\n", 0, match.start())
        elif char in "]}":
            depth = max(0, depth - 1)
    return None


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _syntax_problem(exc: MarkedYAMLError, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(exc, DuplicateKeyError):
        found = re.search(r'duplicate key "(.*?)"', exc.problem or "")
        return Problem(
            filename, line, col, f'duplicate key "{found[1] if found else "?"}" in a mapping'
        )
    message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
    return Problem(filename, line, col, f"YAML syntax error: {message.replace(chr(10), ' ')}")


def parse_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Text -> plain data and positions; anything refused becomes one located Problem."""
    positions = Positions()
    too_deep = _flow_too_deep(text)
    if too_deep:
        raise ConfigError(
            [
                Problem(
                    filename, *too_deep, f"the document is nested more than {MAX_DEPTH} levels deep"
                )
            ]
        )
    try:
        document = _yaml().load(text)
    except MarkedYAMLError as exc:
        raise ConfigError([_syntax_problem(exc, filename)]) from None
    except (YAMLError, ValueError, TypeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError([Problem(filename, 1, 1, f"YAML syntax error: {first}")]) from None
    if isinstance(document, CommentedMap | CommentedSeq):
        positions.value[()] = (document.lc.line + 1, document.lc.col + 1)
    budget = ALIAS_EXPANSION_FACTOR * _distinct_nodes(document) + ALIAS_EXPANSION_SLACK
    try:
        data = _Converter(positions, budget).convert(document, ())
    except _Refused as refused:
        line, col = (
            positions.of_key(refused.path) if refused.at_key else positions.of_value(refused.path)
        )
        raise ConfigError([Problem(filename, line, col, refused.message)]) from None
    except RecursionError:
        raise ConfigError([Problem(filename, 1, 1, "the document is nested too deeply")]) from None
    return data, positions
