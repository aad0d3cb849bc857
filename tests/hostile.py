"""Generators of hostile desired-state files, shared by the fuzz tests and
benchmarks/fuzz_loader.py."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

EXAMPLE = (
    Path(__file__).resolve().parent.parent / "examples" / "acme" / "ideogram-org.yaml"
).read_text()
YAML_CHARS = st.sampled_from(list(":-[]{}#&*!|>'\"%@`,? \n\t") + list("abcOWNERMEMBER019"))
HIDDEN = ["\x1b", "\x07", "\r", "\u200b", "\ufeff", "\u2028", "\x00", "\x85", "\u202e", "\t"]


def alias_bomb(levels: int, width: int) -> str:
    """The 'billion laughs': each level a list of `width` aliases to the level before."""
    lines = ["version: 1", "a0: &a0 [x]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    lines.append(f"organizations: {{acme: {{members: *a{levels}}}}}")
    return "\n".join(lines) + "\n"


def deep_flow(depth: int) -> str:
    return "version: 1\norganizations: " + "[" * depth + "]" * depth + "\n"


def deep_block(depth: int) -> str:
    lines = ["version: 1", "organizations:"]
    lines += [" " * (2 * (level + 1)) + f"k{level}:" for level in range(depth)]
    return "\n".join(lines) + " 1\n"


def with_hidden(char: str, where: str) -> str:
    escaped = char.encode("unicode_escape").decode().replace("\\x", "\\x").replace("\\u", "\\u")
    value = {"handle": f'"bo{escaped}b"', "user_id": f'"id{escaped}"', "key": f'"lab{escaped}el"'}[
        where
    ]
    if where == "key":
        return (
            "version: 1\norganizations:\n  acme:\n    members:\n      - {email: a@x.example, "
            "role: OWNER}\n"
            f"    api_keys:\n      {value}: {{id: K1}}\n"
        )
    return (
        "version: 1\norganizations:\n  acme:\n    members:\n      - {email: a@x.example, role: "
        "OWNER}\n"
        f"      - {{{where}: {value}}}\n"
    )


TAGS = [
    "!foo {a: 1}",
    "!!omap [{a: 1}]",
    "!!set {a}",
    "!!binary aGk=",
    "!bar x",
    "!!python/object:os.system {}",
    "!!str 1",
    "2001-12-14",
]


def tagged(tag: str) -> str:
    return f"version: 1\norganizations:\n  acme: {tag}\n"


hostile_files = st.one_of(
    st.builds(alias_bomb, st.integers(1, 12), st.integers(1, 12)),
    st.builds(deep_flow, st.integers(1, 3000)),
    st.builds(deep_block, st.integers(1, 200)),
    st.builds(with_hidden, st.sampled_from(HIDDEN), st.sampled_from(["handle", "user_id", "key"])),
    st.builds(tagged, st.sampled_from(TAGS)),
    st.text(YAML_CHARS, max_size=200),
    st.builds(
        lambda start, length, text: EXAMPLE[:start] + text + EXAMPLE[start + length :],
        st.integers(0, len(EXAMPLE) - 1),
        st.integers(0, 40),
        st.text(YAML_CHARS | st.sampled_from(HIDDEN), max_size=12),
    ),
)
