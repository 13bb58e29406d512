"""The SecretStore port: named, versioned secret values (Key Vault's model).

Secret values live only here; the `credentials` container holds metadata. Every `set`
creates a new immutable version, so a reader that knows a version id always reads exactly
the value that was committed with it. Backends: keyvault.py (Azure), local.py (embedded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["SecretVersion", "SecretStore"]


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret, without its value."""

    name: str
    version: str
    created_at: datetime
    enabled: bool = True


class SecretStore(Protocol):
    def ping(self) -> None:
        """Raise if the backend cannot be reached or refuses our identity."""

    def get(self, name: str, *, version: str | None = None) -> str:
        """The value of `version` (default: the latest); `NotFoundError` when absent."""

    def set(self, name: str, value: str) -> str:
        """Store a new version and return its version id."""

    def delete(self, name: str) -> None:
        """Delete the secret and all its versions; `NotFoundError` when absent."""

    def list_versions(self, name: str) -> list[SecretVersion]:
        """All versions, newest first (by creation time); `NotFoundError` when absent."""
