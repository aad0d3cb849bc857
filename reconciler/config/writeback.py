"""Writing the id of a new key back into the desired-state file.

The id is written into the YAML in place: ruamel.yaml's round-trip parser finds the entry, and the
`id:`
line is inserted into the text at that spot, so comments, key order, quoting and indentation stay
exactly as the user wrote them and the file differs only by the added lines.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from ..errors import ReconcilerError
from ..safe_files import write_atomic
from .fast_yaml import yaml_scalar


def _replacement(
    lines: list[str], entry: object, old_id: str | None, key_id: str
) -> tuple[int, int, str, int] | None:
    """Where the entry's `id:` value says `old_id` (plain or quoted), to put `key_id` there."""
    if old_id is None or not isinstance(entry, CommentedMap) or entry.get("id") != old_id:
        return None
    line, column = entry.lc.value("id")
    rest = lines[line][column:]
    for written in (old_id, f'"{old_id}"', f"'{old_id}'"):
        after = rest[len(written) : len(written) + 1]
        if rest.startswith(written) and after in ("", " ", "\t", "\r", "\n", ",", "}", "#"):
            return line, column, yaml_scalar(key_id), len(written)
    return None


def _insertion(
    keys: CommentedMap, label: str, entry: CommentedMap, key_id: str
) -> tuple[int, int, str, bool]:
    """Where `id: KEY_ID` goes into an entry without one: inside its braces, or as its first
    line."""
    if entry.fa.flow_style() or not entry:
        line, column = keys.lc.value(label)  # the opening brace
        inner = f"id: {yaml_scalar(key_id)}" + (", " if entry else "")
        return line, column + 1, inner, True
    return entry.lc.line, entry.lc.col, f"{' ' * entry.lc.col}id: {yaml_scalar(key_id)}\n", False


def write_key_ids(
    path: str | Path,
    new_ids: dict[tuple[str, str], str],
    replaces: dict[tuple[str, str], str] | None = None,
) -> None:
    """Insert `id: ...` for each (organization, label) into the file, changing nothing else; a
    rotated key's `id:` (its predecessor, in `replaces`) is changed to its successor's."""
    if not new_ids:
        return
    replaces = replaces or {}
    path = Path(path)
    text = path.read_text()
    document = YAML(typ="rt").load(text)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str, int]] = []  # (line, column, text, characters replaced)
    inserted: list[tuple[int, int, str, bool]] = []  # (line, column, text, inline)
    for (organization, label), key_id in new_ids.items():
        try:
            keys = document["organizations"][organization]["api_keys"]
            entry = keys[label]
        except (KeyError, TypeError):
            raise ReconcilerError(
                f"cannot write key id {key_id} back: {organization}.api_keys.{label} is no "
                f"longer in {path}; add `id: {key_id}` to it by hand"
            ) from None
        found = _replacement(lines, entry, replaces.get((organization, label)), key_id)
        if found is not None:
            edits.append(found)
            continue
        if not isinstance(entry, CommentedMap) or "id" in entry:
            raise ReconcilerError(
                f"cannot write key id {key_id} back into {path} for {label}: add it by hand"
            )
        inserted.append(_insertion(keys, label, entry, key_id))
    for line, column, value, length in sorted(edits, reverse=True):
        lines[line] = lines[line][:column] + value + lines[line][column + length :]
    for line, column, insertion, inline in sorted(inserted, reverse=True):
        if inline:
            lines[line] = lines[line][:column] + insertion + lines[line][column:]
        else:
            lines.insert(line, insertion)
    new_text = "".join(lines)
    try:
        check = YAML(typ="safe").load(new_text)
        written = {
            key: check["organizations"][key[0]]["api_keys"][key[1]].get("id") for key in new_ids
        }
    except (YAMLError, KeyError, TypeError, AttributeError):
        written = {}
    for (organization, label), key_id in new_ids.items():
        if written.get((organization, label)) != key_id:
            raise ReconcilerError(
                f"could not write key id {key_id!r} into {path} safely; nothing was changed "
                f"there: add the id to {organization}.api_keys.{label} by hand"
            )
    write_atomic(path, new_text, what="desired-state file")
