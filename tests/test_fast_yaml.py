"""The fast reader gives exactly ruamel's data and item positions, or declines.

`read_simple_yaml` may decline anything (the loader then uses ruamel), but whatever it accepts it
must read as `parse_yaml` does: same values of the same types, same line and column for every
sequence item. Hypothesis writes the documents: well-formed trees in varied layouts, and lines
stitched together from tricky tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.config.fast_yaml import read_simple_yaml
from reconciler.config.yaml_source import Positions, parse_yaml
from reconciler.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

TOKENS = [
    "1",
    "0",
    "01",
    "-1",
    "+1",
    "1_0",
    "0x1",
    "0o7",
    "1.0",
    ".5",
    "1e3",
    ".inf",
    "yes",
    "no",
    "on",
    "y",
    "true",
    "True",
    "TRUE",
    "false",
    "tRUE",
    "trueish",
    "Falsey",
    "nullable",
    "NULLS",
    "n",
    "null",
    "~",
    "Null",
    "NULL",
    "''",
    '""',
    "'a''b'",
    "'it''s'",
    '"a b"',
    '"a\\"b"',
    "a b",
    "a  b",
    "a#b",
    "a #b",
    "-a",
    "-",
    "--",
    "---",
    "...",
    "?a",
    "? a",
    ":a",
    "a:b",
    "a: b",
    "2025-01-01",
    "2025-01-01T10:00:00Z",
    "<<",
    "=",
    "é",
    "名前",
    "a\u00a0b",
    "a\u200bb",
    "\ufeffa",
    "x@y.example",
    "Dana.Reyes@Acme.Example",
    "5%",
    "100%",
    "OWNER",
    "MEMBER",
    "ACTIVE",
    "[]",
    "{}",
    "{a: b}",
    "{a: b, c: d}",
    "{a: 'x, y'}",
    "{a: b, a: c}",
    "{a: b,}",
    "{a: 1}",
    "[a]",
    "&a x",
    "*a",
    "!!str x",
    "!x y",
    "|",
    ">",
    "%x",
    "@x",
    "`x",
    "a,b",
    "'unterminated",
    "a\tb",
    "3q2-7wAAQkKpYXNzd29yZA",
    "_x",
    "-x_y",
    "a]",
    "a}",
    "a'",
    'a"b',
    "0.",
    "1:30",
    "0b1",
    "+",
    ".",
    "..a",
    "x" * 1100,
]
KEYS = [
    "version",
    "policy",
    "organizations",
    "members",
    "email",
    "role",
    "api_keys",
    "id",
    "status",
    "a b",
    "'q'",
    '"dq"',
    "1",
    "true",
    "null",
    "~",
    "-k",
    "<<",
    "é",
    "k",
    "k",
    "x" * 1030,
]


def typed(value: Any) -> Any:
    """A value with every type spelled out, so 1 and True and 1.0 never compare equal."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def item_positions(
    data: Any, positions: Positions, path: tuple[Any, ...] = ()
) -> dict[tuple[Any, ...], list]:
    found: dict[tuple[Any, ...], list] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            found.update(item_positions(value, positions, (*path, key)))
    elif isinstance(data, list) and data:  # an empty list has no items to place
        found[path] = [positions.value[(*path, index)] for index in range(len(data))]
        for index, value in enumerate(data):
            found.update(item_positions(value, positions, (*path, index)))
    return found


def assert_agrees(text: str) -> bool:
    """True when the fast reader accepted the text (and then agreed with ruamel)."""
    fast = read_simple_yaml(text)
    if fast is None:
        return False
    try:
        data, positions = parse_yaml(text, "f.yaml")
    except ConfigError as exc:
        raise AssertionError(f"fast reader accepted what ruamel refuses ({exc}):\n{text}") from None
    assert typed(fast[0]) == typed(data), text
    assert fast[1] == item_positions(data, positions), text
    return True


# --- documents from trees -------------------------------------------------------------------------

SAFE = [
    "ada@corp.example",
    "OWNER",
    "MEMBER",
    "ACTIVE",
    "1",
    "true",
    "5%",
    "ci-pipeline",
    "Acme Corp",
    "'x'",
]
scalars = st.one_of(st.sampled_from(TOKENS), st.sampled_from(SAFE))
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(["email", "role", "id", "members"]))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4),
        st.dictionaries(keys, children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def layouts(draw: st.DrawFn) -> tuple[int, bool, bool]:
    return draw(st.integers(1, 4)), draw(st.booleans()), draw(st.booleans())


def render(node: Any, indent: int, style: tuple[int, bool, bool]) -> list[str]:
    step, indentless, comments = style
    pad = " " * indent
    lines: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                lines.append(f"{pad}{key}:" + ("  # note" if comments else ""))
                child_indent = indent if isinstance(value, list) and indentless else indent + step
                lines += render(value, child_indent, style)
            else:
                lines.append(f"{pad}{key}: {value}" + (" # c" if comments else ""))
        return lines
    if isinstance(node, list):
        for value in node:
            if isinstance(value, dict):
                inner = render(value, indent + 2, style)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
            elif isinstance(value, list):
                lines.append(f"{pad}-")
                lines += render(value, indent + step, style)
            else:
                lines.append(f"{pad}- {value}")
        return lines
    return [f"{pad}{node}"]


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, trees, min_size=1, max_size=4), layouts())
def test_tree_documents_read_alike(tree: dict[str, Any], style: tuple[int, bool, bool]) -> None:
    assert_agrees("\n".join(render(tree, 0, style)) + "\n")


# --- documents from stitched lines ----------------------------------------------------------------

line_parts = st.tuples(
    st.sampled_from([0, 2, 2, 4, 4, 6, 1, 3]),
    st.booleans(),
    st.one_of(st.none(), keys),
    st.one_of(st.none(), scalars),
    st.sampled_from(["", " # c", "#c", "  ", " #"]),
)


def stitch(parts: tuple[int, bool, str | None, str | None, str]) -> str:
    indent, dash, key, value, tail = parts
    body = (
        f"{key}:" + (f" {value}" if value is not None else "") if key is not None else (value or "")
    )
    return " " * indent + ("- " if dash else "") + body + tail


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys, st.lists(line_parts, min_size=1, max_size=8), st.booleans())
def test_stitched_lines_read_alike(
    first: str, parts: list[tuple[int, bool, str | None, str | None, str]], crlf: bool
) -> None:
    text = f"{first}:\n" + "\n".join(stitch(p) for p in parts)
    assert_agrees(text.replace("\n", "\r\n") if crlf else text)


# --- what the fast path must take -----------------------------------------------------------------


@pytest.mark.parametrize(
    "example", sorted((ROOT / "examples").rglob("*.yaml")), ids=lambda p: p.name
)
def test_examples_take_the_fast_path(example: Path) -> None:
    if "github" in example.parts:
        pytest.skip("workflow files, not desired-state files")
    assert assert_agrees(example.read_text())


def test_exports_take_the_fast_path() -> None:
    from reconciler import service
    from reconciler.api.client import ApiReader
    from reconciler.sandbox import SANDBOX_BASE_URL, Sandbox, SandboxTransport
    from reconciler.sandbox.state import generate_state

    state = generate_state(members=300, keys=40, seed=5)
    reader = ApiReader(SANDBOX_BASE_URL, state.token, transport=SandboxTransport(Sandbox(state)))
    text = service.export(reader).text
    assert assert_agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nversion: 1\n",  # duplicate key: ruamel names it
        "version: 0x1\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "a: |\n  x\n",
        "a: b\n  c\n",
        "a:\tb\n",
        "%YAML 1.1\n---\na: yes\n",
        "a: 1.5\n",
        "a: 2025-01-01T10:00:00Z\n",
        "- a\n",
        "a: [b]\n",
        "? a\n: b\n",
        "a: 'multi\n  line'\n",
        "\ufeffa: b\n",
        "a:\n  - b\n  c: d\n",
        "---\na: b\n",  # document markers, first and later
        "a: b\n...\n",
        "a:\n  - b\n---\nc: d\n",
        "a: b\x07\n",  # ASCII that is not printable: a bell, DEL, a bare carriage return
        "a: b\x7f\n",
        "a: b\rc\n",
        "a: bé\x85\n",  # and beyond ASCII
        "a: b  # ok • \u202e\n",  # a bidi override in a comment, after a printable bullet
        "a: b\u2028c\n",  # a line separator
        "a: \ud800\n",  # a lone surrogate (no file decodes to one; a str may hold it)
    ],
)
def test_declines_what_it_does_not_know(text: str) -> None:
    assert read_simple_yaml(text) is None


@pytest.mark.parametrize("text", ["expires: 2027-01-31\n", "expires: '2027-01-31'\n"])
def test_a_date_reads_as_its_iso_text_quoted_or_not_in_both_readers(text: str) -> None:
    assert assert_agrees(text)
    assert parse_yaml(text, "f.yaml")[0] == {"expires": "2027-01-31"}


@settings(max_examples=800, deadline=None)
@given(st.one_of(st.sampled_from(TOKENS + SAFE), st.text(min_size=1, max_size=30)))
def test_written_scalars_read_back_as_the_same_string(value: str) -> None:
    """What export writes for a string is that string again, to ruamel and to the fast reader."""
    from reconciler.config.fast_yaml import yaml_scalar

    text = f"k: {yaml_scalar(value)}\n"
    try:
        data, _ = parse_yaml(text, "f.yaml")
    except ConfigError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value), (
            text
        )  # lone surrogates cannot be written
        return
    assert typed(data) == typed({"k": value}), text
    fast = read_simple_yaml(text)
    assert fast is None or typed(fast[0]) == typed(data)
