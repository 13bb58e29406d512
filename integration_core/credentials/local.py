"""Embedded SecretStore: one AES-GCM encrypted JSON file (the demo and local runs).

Each value is sealed with AES-256-GCM under a key from settings, with the secret's name
and version as associated data, so a ciphertext cannot be moved to another name or
version. Names and version ids are stored in clear. The file is written with mode 0600
via a temporary file and `os.replace` (atomic), and every read-modify-write holds an
exclusive `flock` on a sibling lock file, so several processes may share one store.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integration_core.clock import from_iso, to_iso, utcnow
from integration_core.credentials.base import SecretVersion
from integration_core.errors import ConfigurationError, NotFoundError

__all__ = ["LocalSecretStore", "decode_key"]

_log = logging.getLogger(__name__)
_NONCE_BYTES = 12
_FORMAT = 1


def decode_key(key: str | bytes) -> bytes:
    """The 32 raw bytes of a key given as bytes or base64url text, or ConfigurationError."""
    raw: bytes
    if isinstance(key, bytes):
        raw = key
    else:
        try:
            raw = base64.urlsafe_b64decode(key.strip() + "=" * (-len(key.strip()) % 4))
        except (binascii.Error, ValueError) as err:
            raise ConfigurationError("local secret key is not valid base64") from err
    if len(raw) != 32:
        raise ConfigurationError("local secret key must be 32 bytes (base64url, 43-44 chars)")
    return raw


class LocalSecretStore:
    """A SecretStore in one encrypted file.

    Args:
        path: the store file; created with mode 0600 on first write.
        key: 32 random bytes, or their base64url text (see `generate_key`).
    """

    def __init__(self, path: str | Path, key: str | bytes) -> None:
        self._path = Path(path)
        self._lock_path = self._path.with_name(self._path.name + ".lock")
        self._aead = AESGCM(decode_key(key))
        self._thread_lock = threading.Lock()

    @staticmethod
    def generate_key() -> str:
        """A fresh key as base64url text, suitable for the LOCAL_SECRETS_KEY setting."""
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")

    def ping(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self._path.parent, os.W_OK):
            raise ConfigurationError(f"secret store directory {self._path.parent} is not writable")
        self._read()

    def get(self, name: str, *, version: str | None = None) -> str:
        entry = self._entry(self._read(), name)
        versions: list[dict[str, Any]] = entry["versions"]
        if version is None:
            chosen = versions[-1]
        else:
            found = [v for v in versions if v["version"] == version]
            if not found:
                raise NotFoundError(f"secret {name!r} has no version {version!r}")
            chosen = found[0]
        return self._open(name, chosen)

    def set(self, name: str, value: str) -> str:
        version = uuid.uuid4().hex
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, value.encode(), self._aad(name, version))
        record = {
            "version": version,
            "createdAt": to_iso(utcnow()),
            "enabled": True,
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(sealed).decode(),
        }
        with self._exclusive():
            data = self._read()
            data["secrets"].setdefault(name, {"versions": []})["versions"].append(record)
            self._write(data)
        _log.debug("stored secret version", extra={"secret_name": name, "version": version})
        return version

    def delete(self, name: str) -> None:
        with self._exclusive():
            data = self._read()
            self._entry(data, name)
            del data["secrets"][name]
            self._write(data)
        _log.debug("deleted secret", extra={"secret_name": name})

    def list_versions(self, name: str) -> list[SecretVersion]:
        entry = self._entry(self._read(), name)
        return [
            SecretVersion(
                name=name,
                version=v["version"],
                created_at=from_iso(v["createdAt"]),
                enabled=bool(v["enabled"]),
            )
            for v in reversed(entry["versions"])
        ]

    @staticmethod
    def _aad(name: str, version: str) -> bytes:
        return f"{name}\x1f{version}".encode()

    def _open(self, name: str, record: dict[str, Any]) -> str:
        try:
            plain = self._aead.decrypt(
                base64.b64decode(record["nonce"]),
                base64.b64decode(record["ciphertext"]),
                self._aad(name, record["version"]),
            )
        except InvalidTag as err:
            raise ConfigurationError(
                f"secret {name!r} cannot be decrypted: wrong key or tampered store file"
            ) from err
        return plain.decode()

    @staticmethod
    def _entry(data: dict[str, Any], name: str) -> dict[str, Any]:
        entry: dict[str, Any] | None = data["secrets"].get(name)
        if entry is None:
            raise NotFoundError(f"secret {name!r} not found")
        return entry

    def _read(self) -> dict[str, Any]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"format": _FORMAT, "secrets": {}}
        data: dict[str, Any] = json.loads(text)
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self._path.with_name(f".{self._path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock
