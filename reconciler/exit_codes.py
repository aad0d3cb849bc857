"""What an exit code means, for every command and the Action alike.

2 means one thing only: the command found differences (`plan --detailed-exitcode`, `drift`) or
an alarm went off (`usage --alert-at`). A command line the tool cannot run (an unknown option, a
bad value) is an error like any other: 1, never 2, so `drift ... || [ $? -eq 2 ]` cannot pass
on a typo.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # differences found (plan --detailed-exitcode, drift) or an alert reached
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: what was sent is on record
