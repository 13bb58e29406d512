"""Claim-check storage for webhook bodies too large to travel in a queue message.

Storage queues hold 64 KB per message and Service Bus standard 256 KB; a provider may send
megabytes. Such a body is written here under a name derived from its inbox entry, and the
message and the inbox entry carry the name instead of the bytes. Backends: blob_bodies.py
(Azure Blob storage, Azurite locally) and `FileBodyStore` below (the embedded stack),
chosen only in runtime.py. Writes are idempotent: a retried delivery writes the same name
with the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from integration_core.errors import NotFoundError, RetryableError

__all__ = ["BODY_CONTAINER", "INLINE_BODY_BYTES", "BodyStore", "FileBodyStore"]

BODY_CONTAINER = "webhook-bodies"
# Bodies up to this size travel inline, base64 inside the JSON envelope (4/3 the size, plus
# headers and ids), which keeps the message under a Storage queue's 64 KB.
INLINE_BODY_BYTES = 40 * 1024


class BodyStore(Protocol):
    def ping(self) -> None:
        """Raise if the backend cannot be reached."""

    def put(self, name: str, data: bytes) -> None:
        """Store `data` under `name` (replacing what was there); RetryableError on failure."""

    def get(self, name: str) -> bytes:
        """The bytes stored under `name`; NotFoundError when absent."""


class FileBodyStore:
    """Bodies as files in one directory (the embedded demo and unit tests)."""

    def __init__(self, directory: Path | str) -> None:
        self._directory = Path(directory)

    def _path(self, name: str) -> Path:
        # Hashed: a name never reaches the filesystem as a path.
        return self._directory / hashlib.sha256(name.encode()).hexdigest()

    def ping(self) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)

    def put(self, name: str, data: bytes) -> None:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self._directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, self._path(name))
        except OSError as err:
            raise RetryableError(f"webhook body {name} could not be stored") from err

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError as err:
            raise NotFoundError(f"webhook body {name} not found") from err
