"""`visible` shows every control, format or separator character as an escape, whatever the text:
its fast path for printable text must give what the character-by-character rule gives."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.render.escape import HIDDEN, visible


def _by_character(text: str, keep_newlines: bool) -> str:
    out = []
    for char in text:
        code = ord(char)
        if (keep_newlines and char == "\n") or unicodedata.category(char) not in HIDDEN:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


@given(st.text(), st.booleans())
@example("plain text: live MEMBER, file OWNER", False)
@example("a\u00a0b\u3000c", False)  # spaces that are printable-refused but not hidden
@example("bo\x1b[2Jb\u202e\u2028\n", True)
@example("line\nnext", False)
def test_visible_is_the_character_rule(text: str, keep_newlines: bool) -> None:
    assert visible(text, keep_newlines) == _by_character(text, keep_newlines)


def test_what_a_terminal_would_act_on_is_shown_escaped() -> None:
    assert visible("bo\x1b[2Jb\x07") == "bo\\x1b[2Jb\\x07"
    assert visible("a\u202eb\n", keep_newlines=True) == "a\\u202eb\n"
    assert visible("a\nb") == "a\\x0ab"
