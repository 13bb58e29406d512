"""Checks for settings whose mistakes the SDKs would only report on the first call.

Each raises ValueError with a message that says what is wrong and never repeats the
value (it may be a secret); settings.py puts the setting's name in front.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlparse

from integration_core.errors import ConfigurationError

__all__ = [
    "LOG_LEVELS",
    "check_applicationinsights_connection_string",
    "check_redirect_url",
    "check_cosmos_endpoint",
    "check_cosmos_key",
    "check_local_secrets_key",
    "check_log_level",
    "check_key_vault_url",
    "check_redis_url",
    "check_schedule",
    "check_servicebus_connection_string",
    "check_sqlite_path",
    "check_storage_connection_string",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


# An NCRONTAB expression (five fields, or six with seconds first) or a TimeSpan, the two
# forms the Functions timer trigger accepts.
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?-]+")
_TIMESPAN = re.compile(r"(\d+\.)?\d{1,2}:\d{2}(:\d{2})?")


def check_schedule(value: str) -> str:
    fields = value.split()
    cron = len(fields) in (5, 6) and all(_CRON_FIELD.fullmatch(f) for f in fields)
    if not cron and not _TIMESPAN.fullmatch(value.strip()):
        raise ValueError("must be an NCRONTAB expression, e.g. '0 */5 * * * *'")
    return value


def check_applicationinsights_connection_string(value: str) -> None:
    """`InstrumentationKey=<uuid>;IngestionEndpoint=https://...`, as the portal shows it."""
    parts = {}
    for part in value.split(";"):
        name, sep, setting = part.partition("=")
        if part.strip() and not sep:
            raise ValueError("is not an Application Insights connection string")
        parts[name.strip().lower()] = setting.strip()
    try:
        uuid.UUID(parts["instrumentationkey"])
    except (KeyError, ValueError):
        raise ValueError("needs an InstrumentationKey (a GUID)") from None
    for name, setting in parts.items():
        if name.endswith("endpoint"):
            _check_https_url(setting, "https://<region>.in.applicationinsights.azure.com/")


def check_local_secrets_key(value: str) -> None:
    from integration_core.credentials.local import decode_key

    try:
        decode_key(value)
    except ConfigurationError as err:
        raise ValueError(f"{err} (LocalSecretStore.generate_key() makes one)") from None


def check_sqlite_path(value: str) -> None:
    """The file can be created (its directory exists or can be made) and written."""
    if value == ":memory:":
        return
    path = Path(value)
    if path.is_dir():
        raise ValueError("names a directory, not a database file")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError("its directory cannot be created (a parent is a file)")
    target = path if path.exists() else existing
    if not os.access(target, os.W_OK):
        raise ValueError("is not writable")


def check_redis_url(value: str) -> None:
    from redis.connection import parse_url

    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 (raises for a port that is not a number)
        parse_url(value)  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError("must be a redis://, rediss:// or unix:// URL") from None


def check_storage_connection_string(value: str) -> None:
    """Parsed as the Storage SDK parses it; an account key must be base64."""
    from azure.storage.queue import QueueServiceClient

    try:
        QueueServiceClient.from_connection_string(value).close()
    except ValueError:
        raise ValueError("is not a Storage connection string") from None
    for part in value.split(";"):
        name, _, setting = part.partition("=")
        if name.strip().lower() == "accountkey":
            _check_base64(setting.strip(), "its AccountKey is not base64")


def check_servicebus_connection_string(value: str) -> None:
    from azure.servicebus import parse_connection_string

    try:
        parse_connection_string(value)
    except ValueError:
        raise ValueError("is not a Service Bus connection string") from None


def check_cosmos_endpoint(value: str) -> None:
    _check_https_url(value, "https://<account>.documents.azure.com/")


def check_key_vault_url(value: str) -> None:
    _check_https_url(value, "https://<vault>.vault.azure.net")


def check_redirect_url(value: str) -> None:
    """An OAuth redirect URI: absolute http(s), no fragment (RFC 6749 §3.1.2)."""
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        raise ValueError("is not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.fragment:
        raise ValueError(
            "must be an absolute http(s) URL without a fragment,"
            " e.g. https://<app>.azurewebsites.net/api/connect/callback"
        )


def _check_https_url(value: str, example: str) -> None:
    try:
        parsed = urlparse(value)
        parsed.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        raise ValueError("is not a URL") from None
    if parsed.scheme != "https" or not parsed.hostname:
        raise ValueError(f"must be an https:// URL, e.g. {example}")


def check_cosmos_key(value: str) -> None:
    _check_base64(value, "is not a base64 account key")


def _check_base64(value: str, message: str) -> None:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(message) from None
    if not decoded:
        raise ValueError(message)
