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
from array import array
from collections.abc import Callable, Sequence
from typing import Any, overload

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode

MAX_DEPTH = 64

_STOP = (
    r"\s#,:\[\]{}"  # never inside a plain scalar here: whitespace, comment, flow and key indicators
)
_PLAIN = rf"(?:[^{_STOP}\-?!&*|>'\"%@`.][^{_STOP}]*|-[^{_STOP}]+)(?: +[^{_STOP}]+)*"
_QUOTED = r"'(?:[^'\n]|'')*'|\"[^\"\\\n]*\""  # on one line
_SCALAR = rf"(?:{_QUOTED}|{_PLAIN})"
_COMMENT = r"(?: +#.*)?"
_ROW = re.compile(  # any one line: indent, "- ", then key and value, or an item alone; or nothing
    rf"^(?:( *)(- +)?(?:({_SCALAR}):(?: +({_SCALAR}|\{{[^{{}}#\n]*\}}|\[\]))?|({_SCALAR})) *"
    rf"{_COMMENT}| *(?:#.*)?)$",
    re.MULTILINE,
)
_FLOW_PAIR = re.compile(rf" *(?P<key>{_SCALAR}): +(?P<value>{_SCALAR}) *")
_PLAIN_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"  # what str.isprintable() passes, and lines
CHUNK_CHARS = 1 << 21  # text matched at once: bounds the rows held (about 15 MB) on any file


class NotSimple(Exception):
    """The text is outside the subset: read it with the full parser."""


_BOOL, _NULL = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"


class _Resolver:
    """Plain scalars typed exactly as ruamel types them (YAML 1.2), or NotSimple."""

    def __init__(self) -> None:
        self.resolver = YAML(typ="rt").resolver
        self.first_chars = frozenset(self.resolver.versioned_resolver)
        self.words_only = frozenset(  # first letters that only a bool or a null may start with
            first
            for first, resolvers in self.resolver.versioned_resolver.items()
            if first.isalpha() and {tag for tag, _ in resolvers} <= {_BOOL, _NULL}
        )
        self.cache: dict[str, Any] = {}
        self.keys: dict[str, str] = {}
        # first characters for which `scalar(token)` may be other than the token itself
        self.quoted_or_typed = self.first_chars | {"'", '"'}

    def plain(self, text: str) -> Any:
        if text[0] not in self.first_chars:
            return text
        if len(text) > 5 and text[0] in self.words_only:
            return text  # YAML 1.2's true, false and null are words of at most 5 characters
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


class _Rows:
    """The content lines (neither blank nor comment) of the text, a chunk at a time: each line is
    matched by one regular expression over the chunk (not a call per line), and a line it does not
    match is outside the subset. Fields by position: line number, indent of the content (after a
    "- "), column of the dash (-1: none), and the matched tokens (key, value; or item)."""

    def __init__(self, text: str) -> None:
        self.text, self.offset, self.lines_before = text, 0, 0
        self.numbers: list[int] = []
        self.indents: list[int] = []
        self.dashes: list[int] = []
        self.tokens: list[tuple[str, str, str, str, str]] = []
        self.at = 0

    def current(self) -> bool:
        """Whether a line is left; the next chunk is matched when this one is used up."""
        while self.at == len(self.tokens):
            if self.offset > len(self.text):
                return False
            self._match_chunk()
        return True

    def _match_chunk(self) -> None:
        text, start = self.text, self.offset
        stop = text.find("\n", start + CHUNK_CHARS)
        stop = len(text) if stop < 0 else stop
        found = _ROW.findall(text, start, stop)
        if len(found) != text.count("\n", start, stop) + 1:
            raise NotSimple("a line outside the subset")
        first = self.lines_before + 1
        kept = [n for n, row in enumerate(found) if row[2] or row[4]]
        tokens = [found[n] for n in kept]
        self.numbers = [first + n for n in kept]
        self.indents = [len(row[0]) + len(row[1]) for row in tokens]
        self.dashes = [len(row[0]) if row[1] else -1 for row in tokens]
        self.tokens, self.at = tokens, 0
        self.lines_before += len(found)
        self.offset = stop + 1


def _checked(text: str) -> str:
    """The text with CRLF line breaks as LF, or NotSimple for what no line of the subset holds:
    tabs, bare carriage returns, unprintable characters (in comments too), document markers."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    try:  # at C speed: what is left of the UTF-8 once printable ASCII and line breaks are gone
        rest = text.encode("utf-8").translate(None, _PRINTABLE_ASCII)
    except UnicodeEncodeError:
        raise NotSimple("a lone surrogate") from None
    # ASCII controls, and whole sequences of the few non-ASCII characters (an export's "•" in
    # key comments): they decode as they were, and each must be printable
    if rest and not rest.decode("utf-8").isprintable():
        raise NotSimple("tabs, bare carriage returns or unprintable characters")
    if text.startswith(("---", "...")) or "\n---" in text or "\n..." in text:
        raise NotSimple("a document marker")
    return text


class ItemPositions(Sequence[tuple[int, int]]):
    """The (line, column) of each item of one sequence, kept in two arrays of integers: a tuple
    per item was 90 MB for a file of 1,000,000 members."""

    __slots__ = ("columns", "lines")

    def __init__(self) -> None:
        self.lines, self.columns = array("q"), array("q")

    def append(self, line: int, column: int) -> None:
        self.lines.append(line)
        self.columns.append(column)

    @overload
    def __getitem__(self, index: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[int, int]]: ...

    def __getitem__(self, index: int | slice) -> tuple[int, int] | list[tuple[int, int]]:
        if isinstance(index, slice):
            return list(zip(self.lines[index], self.columns[index], strict=True))
        return self.lines[index], self.columns[index]

    def __len__(self) -> int:
        return len(self.lines)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list is


ItemsRead = Callable[[tuple[Any, ...], list[Any]], None]
ITEMS_PER_CALL = 10_000  # a growing sequence is handed to `on_items` this often


class _Reader:
    def __init__(self, rows: _Rows, resolver: _Resolver, on_items: ItemsRead | None) -> None:
        self.rows, self.resolver, self.on_items = rows, resolver, on_items
        self.items: dict[tuple[Any, ...], ItemPositions] = {}

    def mapping(self, indent: int, path: tuple[Any, ...]) -> dict[str, Any]:
        """The entries at `indent`; the first may be a sequence item's ("- key: ...")."""
        if len(path) > MAX_DEPTH:
            raise NotSimple("nested past MAX_DEPTH")
        rows, resolver = self.rows, self.resolver
        out: dict[str, Any] = {}
        while rows.current():
            at = rows.at
            dash = rows.dashes[at]
            if 0 <= dash <= indent and out:
                if dash == indent:
                    raise NotSimple(f"line {rows.numbers[at]}")  # a list item among entries
                return out
            if rows.indents[at] < indent:
                return out
            _, _, key_token, value_token, _ = rows.tokens[at]
            if rows.indents[at] > indent or not key_token:
                raise NotSimple(f"line {rows.numbers[at]}")
            key = resolver.key(key_token)
            if key in out:
                raise NotSimple(f"line {rows.numbers[at]}")
            rows.at = at + 1
            if not value_token:
                out[key] = self.nested(indent, (*path, key))
                continue
            out[key] = (
                resolver.flow(value_token)
                if value_token[0] in "{["
                else resolver.scalar(value_token)
            )
            if rows.current() and rows.indents[rows.at] > indent and rows.dashes[rows.at] < 0:
                raise NotSimple(f"line {rows.numbers[rows.at]}")  # a continued scalar
        return out

    def nested(self, indent: int, path: tuple[Any, ...]) -> Any:
        """The value of an entry written as "key:" alone: what the lines below it hold."""
        rows = self.rows
        if not rows.current():
            return None
        dash = rows.dashes[rows.at]
        if dash >= 0:
            return self.sequence(dash, path) if dash >= indent else None
        if rows.indents[rows.at] > indent:
            return self.mapping(rows.indents[rows.at], path)
        return None

    def one_entry_items(self, indent: int, out: list[Any], positions: ItemPositions) -> bool:
        """Items of the sequence at `indent` written "- key: value" and followed by the next
        item, each a mapping of one entry (a member by email, the most common line), read in one
        loop over the chunk without a call per item. Whether any was."""
        rows, resolver = self.rows, self.resolver
        tokens, dashes, numbers, indents = rows.tokens, rows.dashes, rows.numbers, rows.indents
        at, last = rows.at, len(tokens) - 1
        add_line, add_column = positions.lines.append, positions.columns.append
        known_key, key_of, scalar = resolver.keys.get, resolver.key, resolver.scalar
        # the value is its token when `plain` would say so at its first two tests (an email or a
        # handle nearly always): decided here, without a call per item
        special, words_only = resolver.quoted_or_typed, resolver.words_only
        while at < last and dashes[at + 1] == indent:
            _, _, key_token, value_token, _ = tokens[at]
            if not key_token or not value_token or value_token[0] in "{[":
                break
            add_line(numbers[at])
            add_column(indents[at] + 1)
            first = value_token[0]
            out.append(
                {
                    known_key(key_token) or key_of(key_token): value_token
                    if first not in special or (len(value_token) > 5 and first in words_only)
                    else scalar(value_token)
                }
            )
            at += 1
        taken = at > rows.at
        rows.at = at
        return taken

    def sequence(self, indent: int, path: tuple[Any, ...]) -> list[Any]:
        if len(path) > MAX_DEPTH:
            raise NotSimple("nested past MAX_DEPTH")
        rows = self.rows
        out: list[Any] = []
        positions = self.items.setdefault(path, ItemPositions())
        resolver, shallow = self.resolver, len(path) < MAX_DEPTH
        on_items, next_call = self.on_items, ITEMS_PER_CALL
        while rows.current() and rows.dashes[rows.at] == indent:
            if on_items is not None and len(out) >= next_call:
                on_items(path, out)
                next_call = len(out) + ITEMS_PER_CALL
            at = rows.at
            if shallow and self.one_entry_items(indent, out, positions):
                continue
            positions.append(rows.numbers[at], rows.indents[at] + 1)
            _, _, key_token, _, item_token = rows.tokens[at]
            if key_token:
                out.append(self.mapping(rows.indents[at], (*path, len(out))))
                continue
            item = resolver.scalar(item_token)
            rows.at = at + 1
            if rows.current() and (
                rows.indents[rows.at] > indent
                and rows.dashes[rows.at] < 0
                or rows.dashes[rows.at] > indent
            ):
                raise NotSimple(f"line {rows.numbers[rows.at]}")
            out.append(item)
        if rows.current() and rows.indents[rows.at] > indent and rows.dashes[rows.at] < 0:
            raise NotSimple(f"line {rows.numbers[rows.at]}")
        if on_items is not None:
            on_items(path, out)
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


_AS_WRITTEN = (  # what `plain_as_written` lets through: no YAML indicator, quote or space
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-@\n"
)


def plain_as_written(addresses: list[str]) -> bool:
    """Whether `yaml_scalar` writes each of these addresses as it is, decided for the list at
    once: each made of letters, digits and `._+-@`, starting with a letter or a digit, and holding
    an "@" (so no resolver reads it as a number, a bool or a null)."""
    if not addresses:
        return True
    joined = "\n" + "\n".join(addresses)
    if not joined.isascii() or joined.encode("ascii").translate(None, _AS_WRITTEN):
        return False
    if joined.count("\n") != len(addresses):
        return False  # a line break inside one
    if "\n\n" in joined or "\n-" in joined or "\n." in joined or "\n@" in joined:
        return False
    return max(map(len, addresses)) <= 1024 and all("@" in address for address in addresses)


def read_simple_yaml(
    text: str, on_items: ItemsRead | None = None
) -> tuple[dict[str, Any], dict[tuple[Any, ...], ItemPositions]] | None:
    """The document as plain data and the (line, column) of every sequence item by the sequence's
    path, or None when the text is outside the subset (then ruamel reads it). `on_items(path,
    items)` is handed each sequence as it is read, every ITEMS_PER_CALL items and once at its end,
    and may replace the items read so far (the loader validates member entries while the rest is
    read, so their mappings are never all held at once); what it raises goes to the caller."""
    try:
        rows = _Rows(_checked(text))
        if not rows.current() or rows.indents[0] != 0 or rows.dashes[0] >= 0:
            return None
        if not rows.tokens[0][2]:
            return None
        reader = _Reader(rows, _Resolver(), on_items)
        data = reader.mapping(0, ())
        if rows.current():
            return None
        return data, reader.items
    except NotSimple:
        return None
    except RecursionError:
        return None


__all__ = ["ItemPositions", "plain_as_written", "read_simple_yaml", "yaml_scalar"]
