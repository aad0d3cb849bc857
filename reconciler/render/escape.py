"""Making text from the file or the server safe to show.

A handle or a server message can carry terminal control sequences (cursor moves, OSC-8 links,
BEL) or markdown that mentions people and hides links. Before any such text reaches a terminal
or a pull request comment it goes through here: control and format characters become visible
escapes such as \\x1b, and in markdown the text is set as code, where nothing is interpreted.
"""

from __future__ import annotations

import re
import unicodedata

HIDDEN = ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn")


def _escape(char: str) -> str:
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


def visible(text: str, keep_newlines: bool = False) -> str:
    """Text with every control, format or separator character shown as an escape."""
    if (text.replace("\n", "") if keep_newlines else text).isprintable():
        return text  # no character of a HIDDEN category (isprintable refuses them all): as a rule
    return "".join(
        char
        if (keep_newlines and char == "\n") or unicodedata.category(char) not in HIDDEN
        else _escape(char)
        for char in text
    )


def md_code(text: str) -> str:
    """Text as a markdown code span: no mention, link, image or emphasis is interpreted in it.
    Pipes are escaped so that the span can stand in a table cell."""
    shown = visible(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if shown.startswith("`") or shown.endswith("`") else ""
    return f"{fence}{pad}{shown}{pad}{fence}"
