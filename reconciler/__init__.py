"""ideogram-org: declarative membership and API-key management for Ideogram organizations."""

__version__ = "0.1.0"
