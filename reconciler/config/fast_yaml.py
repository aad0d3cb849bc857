"""A fast reader for the plain block-style YAML that desired-state files are made of.

ruamel's round-trip parser costs about 230 us per member, so a 100,000-member file took 25 s to
load. This reader handles the subset that `export` writes and people write by hand (block
mappings and sequences, one-line plain or simply quoted scalars, `{k: v}` one-line flow mappings,
comments) in one pass over the lines, and answers None for anything else: tabs, anchors, aliases,
tags, block scalars, multi-line scalars, complex keys, directives, duplicate keys, numbers not
written in plain decimal, any scalar ruamel would not read as a string, bool, null or int.

It is never the judge of a problem: when it answers None, or when the data it gives fails
validation, the loader parses the file again with ruamel (`yaml_source.py`), whose located
errors and hostile-input limits stay the only ones. Plain scalars are typed by ruamel's own
resolver, so both readers give the same data; tests/test_fast_yaml.py checks that on generated
documents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

MAX_DEPTH = 64

_STOP = (
    r"\s#,:\[\]{}"  # never inside a plain scalar here: whitespace, comment, flow and key indicators
)
_PLAIN = rf"(?:[^{_STOP}\-?!&*|>'\"%@`.][^{_STOP}]*|-[^{_STOP}]+)(?: +[^{_STOP}]+)*"
_QUOTED = r"'(?:[^']|'')*'|\"[^\"\\]*\""
_SCALAR = rf"(?:{_QUOTED}|{_PLAIN})"
_COMMENT = r"(?: +#.*)?"
_LINE = re.compile(  # indent, "- ", then key and value, or an item alone
    rf"( *)(- +)?(?:({_SCALAR}):(?: +({_SCALAR}|\{{[^{{}}#]*\}}|\[\]))?|({_SCALAR})) *{_COMMENT}"
)
_FLOW_PAIR = re.compile(rf" *(?P<key>{_SCALAR}): +(?P<value>{_SCALAR}) *")
_PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NotSimple(Exception):
    """The text is outside the subset: read it with the full parser."""


@dataclass(slots=True)
class _Line:
    number: int  # 1-based
    indent: int  # column of the content (after a "- ", if any), 0-based
    dash: bool
    dash_indent: int
    key: Any = None
    value: Any = (
        None  # a scalar, {} or [] written on the line; _NOTHING when the line ends after "key:"
    )
    item: Any = None
    kind: str = ""  # "entry" (key: ...) or "item" (a scalar alone)


_NOTHING = object()


class _Resolver:
    """Plain scalars typed exactly as ruamel types them (YAML 1.2), or NotSimple."""

    def __init__(self) -> None:
        self.resolver = YAML(typ="rt").resolver
        self.first_chars = frozenset(self.resolver.versioned_resolver)
        self.cache: dict[str, Any] = {}
        self.keys: dict[str, str] = {}

    def plain(self, text: str) -> Any:
        if text[0] not in self.first_chars:
            return text
        if text in self.cache:
            return self.cache[text]
        tag = self.resolver.resolve(ScalarNode, text, (True, False))
        if tag == "tag:yaml.org,2002:str":
            value: Any = text
        elif tag == "tag:yaml.org,2002:bool":
            value = text in ("true", "True", "TRUE")
        elif tag == "tag:yaml.org,2002:null":
            value = None
        elif tag == "tag:yaml.org,2002:int" and _PLAIN_DECIMAL.fullmatch(text):
            value = int(text)
        elif tag == "tag:yaml.org,2002:timestamp" and _PLAIN_DATE.fullmatch(text):
            value = text  # a date, as the full reader gives it: its ISO text (expires: ...)
        else:
            raise NotSimple(text)  # floats, timestamps, merge keys, hex, signs, underscores...
        if len(self.cache) < 10_000:
            self.cache[text] = value
        return value

    def scalar(self, token: str) -> Any:
        if token[0] == "'":
            return token[1:-1].replace("''", "'")
        if token[0] == '"':
            return token[1:-1]
        return self.plain(token)

    def key(self, token: str) -> str:
        known = self.keys.get(token)
        if known is not None:
            return known
        if len(token) > 1024:
            raise NotSimple("YAML limits implicit keys to 1024 characters")
        value = self.scalar(token)
        if type(value) is not str:
            raise NotSimple(token)
        if len(self.keys) < 10_000:
            self.keys[token] = value
        return value

    def flow(self, token: str) -> Any:
        if token == "[]":
            return []
        inner = token[1:-1]
        out: dict[str, Any] = {}
        if inner.strip():
            for pair in inner.split(","):
                match = _FLOW_PAIR.fullmatch(pair)
                if match is None:
                    raise NotSimple(token)
                key = self.key(match["key"])
                if key in out:
                    raise NotSimple(token)
                out[key] = self.scalar(match["value"])
        return out


def _split_lines(text: str) -> Iterator[str]:
    """The text's lines without their line breaks (CRLF or LF), made one at a time."""
    start, end = 0, len(text)
    while start <= end:
        stop = text.find("\n", start)
        stop = end if stop < 0 else stop
        yield (
            text[start : stop - 1] if stop > start and text[stop - 1] == "\r" else text[start:stop]
        )
        start = stop + 1


def _lines(text: str, resolver: _Resolver) -> Iterator[_Line]:
    """The content lines, one at a time: at 1,000,000 members a list of them was 150 MB."""
    if "\t" in text or "\r" in text.replace("\r\n", ""):
        raise NotSimple("tabs or bare carriage returns")
    for number, raw in enumerate(_split_lines(text), start=1):
        stripped = raw.lstrip(" ")
        if not stripped or stripped[0] == "#":
            if raw.isprintable() or not stripped:
                continue
            raise NotSimple("unprintable comment")
        if not raw.isprintable() or raw.startswith(("---", "...")):
            raise NotSimple(f"line {number}")
        yield _line(number, raw, resolver)


def _line(number: int, raw: str, resolver: _Resolver) -> _Line:
    match = _LINE.fullmatch(raw)
    if match is None:
        raise NotSimple(f"line {number}")
    spaces, dash, key, token, item = match.groups()
    line = _Line(number, match.end(2) if dash else len(spaces), dash is not None, len(spaces))
    if key is not None:
        line.kind, line.key = "entry", resolver.key(key)
        if token is None:
            line.value = _NOTHING
        elif token[0] in "{[":
            line.value = resolver.flow(token)
        else:
            line.value = resolver.scalar(token)
    else:
        line.kind, line.item = "item", resolver.scalar(item)
    return line


class _Reader:
    def __init__(self, lines: Iterator[_Line]) -> None:
        self.lines = lines
        self.following = next(lines, None)
        self.items: dict[tuple[Any, ...], list[tuple[int, int]]] = {}

    def peek(self) -> _Line | None:
        return self.following

    def advance(self) -> None:
        self.following = next(self.lines, None)

    def mapping(self, indent: int, path: tuple[Any, ...]) -> dict[str, Any]:
        if len(path) > MAX_DEPTH:
            raise NotSimple("nested past MAX_DEPTH")
        out: dict[str, Any] = {}
        while (line := self.peek()) is not None:
            if line.dash and line.dash_indent <= indent and out:
                if line.dash_indent == indent:
                    raise NotSimple(f"line {line.number}")  # a list item among mapping entries
                return out
            if line.indent < indent:
                return out
            if line.indent > indent or line.kind != "entry" or line.key in out:
                raise NotSimple(f"line {line.number}")
            line.dash = False  # a sequence item's first entry has been taken over by this mapping
            self.advance()
            out[line.key] = self.value_of(line, indent, (*path, line.key))
        return out

    def value_of(self, line: _Line, indent: int, path: tuple[Any, ...]) -> Any:
        if line.value is not _NOTHING:
            following = self.peek()
            if following is not None and following.indent > indent and not following.dash:
                raise NotSimple(f"line {following.number}")  # a continued scalar
            return line.value
        following = self.peek()
        if following is None:
            return None
        if following.dash:
            return (
                self.sequence(following.dash_indent, path)
                if following.dash_indent >= indent
                else None
            )
        if following.indent > indent:
            return self.mapping(following.indent, path)
        return None

    def sequence(self, indent: int, path: tuple[Any, ...]) -> list[Any]:
        if len(path) > MAX_DEPTH:
            raise NotSimple("nested past MAX_DEPTH")
        out: list[Any] = []
        positions = self.items.setdefault(path, [])
        while (line := self.peek()) is not None and line.dash and line.dash_indent == indent:
            positions.append((line.number, line.indent + 1))
            path_of_item = (*path, len(out))
            if line.kind == "entry":
                out.append(self.mapping(line.indent, path_of_item))
            else:
                self.advance()
                following = self.peek()
                if following is not None and (
                    following.indent > indent
                    and not following.dash
                    or following.dash
                    and following.dash_indent > indent
                ):
                    raise NotSimple(f"line {following.number}")
                out.append(line.item)
        if line is not None and line.indent > indent and not line.dash:
            raise NotSimple(f"line {line.number}")
        return out


_WRITER_RESOLVER: _Resolver | None = None
_PLAIN_ONLY = re.compile(_PLAIN)


def yaml_scalar(value: str) -> str:
    """`value` as YAML that reads back as exactly this string: plain when this reader (and so
    ruamel) would take it as a string, else double-quoted with every unprintable character
    escaped."""
    global _WRITER_RESOLVER
    if _WRITER_RESOLVER is None:
        _WRITER_RESOLVER = _Resolver()
    if value.isprintable() and len(value) <= 1024 and _PLAIN_ONLY.fullmatch(value):
        try:
            if type(_WRITER_RESOLVER.plain(value)) is str:
                return value
        except NotSimple:
            pass
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif char.isprintable():
            escaped.append(char)
        else:
            escaped.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    return '"' + "".join(escaped) + '"'


def read_simple_yaml(
    text: str,
) -> tuple[dict[str, Any], dict[tuple[Any, ...], list[tuple[int, int]]]] | None:
    """The document as plain data and the (line, column) of every sequence item by the sequence's
    path, or None when the text is outside the subset (then ruamel reads it)."""
    try:
        reader = _Reader(_lines(text, _Resolver()))
        first = reader.peek()
        if first is None or first.indent != 0 or first.dash or first.kind != "entry":
            return None
        data = reader.mapping(0, ())
        if reader.peek() is not None:
            return None
        return data, reader.items
    except NotSimple:
        return None
    except RecursionError:
        return None


__all__ = ["read_simple_yaml", "yaml_scalar"]
