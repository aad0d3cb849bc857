"""Where new keys go: the secret to a 0600 file, the id back into the desired-state file.

The secret is shown by the server once; it is written to `--secrets-file` and nowhere else. The id
is written into the YAML in place: ruamel.yaml's round-trip parser finds the entry, and the `id:`
line is inserted into the text at that spot, so comments, key order, quoting and indentation stay
exactly as the user wrote them and the file differs only by the added lines.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from datetime import datetime, timezone
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .errors import ReconcilerError, UsageError


class SecretsFile:
    """Append-only JSON Lines of new keys, readable by the owner alone."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def check(self) -> None:
        """Fail before any call if the file cannot be written safely."""
        if self.path.exists():
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                raise UsageError(f"{self.path}: secrets file is readable by others (mode {mode:o}); "
                                 f"chmod 600 it first")
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"{self.path}: its folder does not exist")

    def write(self, organization: str, label: str, api_key_id: str, secret: str, creation_time: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        line = json.dumps({"organization": organization, "label": label, "api_key_id": api_key_id,
                           "api_key": secret, "creation_time": creation_time,
                           "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        with os.fdopen(fd, "a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


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
            raise ReconcilerError(f"cannot write key id {key_id} back: {organization}.api_keys.{label} is no "
                                  f"longer in {path}; add `id: {key_id}` to it by hand") from None
        if not isinstance(entry, CommentedMap) or "id" in entry:
            raise ReconcilerError(f"cannot write key id {key_id} back into {path} for {label}: add it by hand")
        if entry.fa.flow_style() or not entry:
            line, column = keys.lc.value(label)  # the opening brace
            inner = f"id: {key_id}" + (", " if entry else "")
            edits.append((line, column + 1, inner, True))
        else:
            edits.append((entry.lc.line, entry.lc.col, f"{' ' * entry.lc.col}id: {key_id}\n", False))
    for line, column, insertion, inline in sorted(edits, reverse=True):
        if inline:
            lines[line] = lines[line][:column] + insertion + lines[line][column:]
        else:
            lines.insert(line, insertion)
    new_text = "".join(lines)
    check = YAML(typ="safe").load(new_text)
    for (organization, label), key_id in new_ids.items():
        if check["organizations"][organization]["api_keys"][label].get("id") != key_id:
            raise ReconcilerError(f"could not write key id {key_id} into {path} safely; add it by hand")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(new_text)
    shutil.copymode(path, temporary)
    os.replace(temporary, path)
