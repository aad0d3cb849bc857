"""The one exception tree of ideogram-org.

Everything the tool raises on purpose derives from `ReconcilerError`; both front ends turn any of
them into one message and an exit code (`exit_codes.py`), so a user never sees a traceback for a
mistake of theirs or the server's. Messages are built from what is safe to show: a token or a
key's secret is never put in one, and server text is redacted by the client before it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exit_codes import ExitCode


class ReconcilerError(Exception):
    """Root of every error the tool reports to a user."""

    exit_code: int = ExitCode.ERROR


@dataclass(frozen=True)
class Problem:
    """One problem in a desired-state file, located to the character."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_dict(self) -> dict[str, str | int]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class ConfigError(ReconcilerError):
    """The desired-state file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[ConfigError], tuple[list[Problem]]]:
        return type(self), (self.problems,)  # whole when pickled


class UsageError(ReconcilerError):
    """The command line asks for something that cannot be done (missing token, bad endpoint...)."""


class InsecureEndpointError(UsageError):
    """Plain http:// to a non-loopback host would send the token in clear text."""


class OrganizationNotFoundError(ReconcilerError):
    """A desired organization matches none of the profiles the token can see."""


class UnsafePlanError(ReconcilerError):
    """The plan breaks a safety rule and was not approved by its hash."""


class Declined(ReconcilerError):
    """The user did not confirm the plan: nothing was sent."""


class BindingConflictError(ReconcilerError):
    """The file binds a key label to one id and the state store to another."""


class StalePlanError(ReconcilerError):
    """The saved plan no longer matches the live organization or the desired file."""


class ApiError(ReconcilerError):
    """A call to the management API failed. Carries what is safe to show: method, path, status."""

    kind = "api"

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        server_message: str = "",
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.server_message = server_message
        where = f"{method} {path}".strip()
        detail = f" ({server_message})" if server_message else ""
        super().__init__(f"{message}{': ' + where if where else ''}{detail}")


class UnauthorizedError(ApiError):
    kind = "unauthorized"


class ForbiddenError(ApiError):
    kind = "forbidden"


class NotFoundError(ApiError):
    kind = "not_found"


class BadRequestError(ApiError):
    kind = "bad_request"


class PaymentRequiredError(ApiError):
    kind = "payment_required"


class RateLimitedError(ApiError):
    kind = "rate_limited"


class ServerError(ApiError):
    kind = "server"


class AmbiguousWriteError(ApiError):
    """The server answered a write with success, but not in a shape the tool can read (say `{}`
    to a key creation, or fewer results than members): the write may have acted. Never sent
    again blindly: the next read settles what happened."""

    kind = "ambiguous"


class NetworkError(ApiError):
    """No usable answer: connection refused or dropped, or timed out."""

    kind = "network"

    def __init__(
        self,
        message: str,
        *,
        sent: bool,
        method: str = "",
        path: str = "",
        server_message: str = "",
    ) -> None:
        # `sent` is True when the request may have reached the server: a write is then ambiguous.
        self.sent = sent
        super().__init__(message, method=method, path=path, server_message=server_message)


class DeliveryError(ReconcilerError):
    """A new key's secret could not be delivered to one of its sinks. Names the sink, never the
    secret."""

    def __init__(self, sink: str, message: str) -> None:
        self.sink = sink
        super().__init__(f"{sink}: {message}")
