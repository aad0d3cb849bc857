"""The command line: `ideogram-org`. One of the two front ends (the other is the GitHub Action)."""

from __future__ import annotations

from .commands import main
from .sandbox import sandbox
from .usage import usage

main.add_command(sandbox)
main.add_command(usage)

__all__ = ["main"]
