"""A faithful fake of the Ideogram management API: in-process (httpx transport) or over HTTP."""

from ..api.endpoints import API_VERSIONS
from .app import Mutation, Sandbox, SandboxResponse, WriteRequest
from .faults import Faults
from .server import SandboxServer
from .state import DEFAULT_TOKEN, SandboxState, generate_state
from .transport import SANDBOX_BASE_URL, SandboxTransport

__all__ = [
    "API_VERSIONS",
    "DEFAULT_TOKEN",
    "Faults",
    "Mutation",
    "SANDBOX_BASE_URL",
    "Sandbox",
    "SandboxResponse",
    "SandboxServer",
    "SandboxState",
    "SandboxTransport",
    "WriteRequest",
    "generate_state",
]
