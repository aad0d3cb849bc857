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


def write_key_ids(path: str | Path, new_ids: dict[tuple[str, str], str]) -> None:
    """Insert `id: ...` for each (organization, label) into the file, changing nothing else."""
    if not new_ids:
        return
    path = Path(path)
    text = path.read_text()
    document = YAML(typ="rt").load(text)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, str, bool]] = []  # (line, column, text, inline)
    for (organization, label), key_id in new_ids.items():
        try:
            keys = document["organizations"][organization]["api_keys"]
            entry = keys[label]
        except (KeyError, TypeError):
            raise ReconcilerError(
                f"cannot write key id {key_id} back: {organization}.api_keys.{label} is no "
                f"longer in {path}; add `id: {key_id}` to it by hand"
            ) from None
        if not isinstance(entry, CommentedMap) or "id" in entry:
            raise ReconcilerError(
                f"cannot write key id {key_id} back into {path} for {label}: add it by hand"
            )
        if entry.fa.flow_style() or not entry:
            line, column = keys.lc.value(label)  # the opening brace
            inner = f"id: {yaml_scalar(key_id)}" + (", " if entry else "")
            edits.append((line, column + 1, inner, True))
        else:
            edits.append(
                (
                    entry.lc.line,
                    entry.lc.col,
                    f"{' ' * entry.lc.col}id: {yaml_scalar(key_id)}\n",
                    False,
                )
            )
    for line, column, insertion, inline in sorted(edits, reverse=True):
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
