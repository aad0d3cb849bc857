"""GitHub workflow commands (`::error::`, `::warning::`): the one place the Action writes them.

A message may quote the server or the file. GitHub ends a command at a line break, so a raw
CR or LF in a message would let the rest run as a command of its own; they are encoded as the
runner documents (%25, %0D, %0A), and every other control character (ESC and the like) is shown
as an escape, never sent to the log as is.
"""

from __future__ import annotations

from typing import Literal

from .escape import visible

Level = Literal["error", "warning", "notice"]


def workflow_command(level: Level, message: str) -> str:
    encoded = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::{level}::{visible(encoded)}"
