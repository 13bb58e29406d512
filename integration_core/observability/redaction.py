"""Secret values never reach a log line or an error text.

Redaction happens at the source, once, for every logger and every handler: installed
(`install_redaction`) at each entry point, it wraps the log record factory so each record
is redacted as it is made — before any handler, the Functions host's, the CLI's or one
added later, sees it. It removes:
- every secret value the app knows: the credential service registers each payload's
  secrets when it loads or saves one, the runtime registers the settings' secrets;
- the values of well-known secret parameters (`api_key=…`, `"client_secret": "…"`,
  `AccountKey=…`) and bearer tokens, even when nobody registered them.
`redact()` is the same rule for error texts that carry a piece of a response body.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from integration_core.observability._private import wrap_record_factory

__all__ = ["MASK", "RedactingFilter", "install_redaction", "redact", "register_secrets"]

MASK = "***"
# Shorter values are not worth masking: they would mangle ordinary words in every line.
MIN_SECRET_LENGTH = 6
SECRET_PARAMETERS = (
    "access_token",
    "accountkey",
    "api_key",
    "apikey",
    "api-key",
    "assertion",
    "client_secret",
    "code",
    "hapikey",
    "id_token",
    "key",
    "password",
    "passwd",
    "private_key",
    "refresh_token",
    "secret",
    "sharedaccesskey",
    "sig",
    "signature",
    "token",
)
_NAMES = "|".join(re.escape(n) for n in sorted(SECRET_PARAMETERS, key=len, reverse=True))
# name=value in query strings, form bodies and connection strings; "name": "value" in JSON.
_PARAMETER = re.compile(rf"(?i)(?<![\w-])({_NAMES})(=)([^&;\s\"'<>]+)")
_JSON_FIELD = re.compile(rf"(?i)(\"(?:{_NAMES})\"\s*:\s*)(\")((?:[^\"\\]|\\.)*)(\")")
# An Authorization header's credentials (a token has a digit; ordinary words do not).
_BEARER = re.compile(r"\b(Bearer|Basic)(\s+)(?=[^\s]*\d)([A-Za-z0-9\-._~+/]{8,}=*)")


class _Registry:
    """Known secret values, found in a text in one pass.

    Values are indexed by their first MIN_SECRET_LENGTH characters, so a text is scanned
    once whatever the number of secrets (a regex alternation of thousands of tokens would
    try each at every position). The oldest values go beyond `capacity`: a long-lived
    worker keeps registering fresh access tokens, and the expired ones matter least.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._by_prefix: dict[str, set[str]] = {}

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            for value in values:
                if len(value) < MIN_SECRET_LENGTH:
                    continue
                if value in self._values:
                    self._values.move_to_end(value)
                    continue
                self._values[value] = None
                self._by_prefix.setdefault(value[:MIN_SECRET_LENGTH], set()).add(value)
                if len(self._values) > self._capacity:
                    oldest, _ = self._values.popitem(last=False)
                    bucket = self._by_prefix[oldest[:MIN_SECRET_LENGTH]]
                    bucket.discard(oldest)
                    if not bucket:
                        del self._by_prefix[oldest[:MIN_SECRET_LENGTH]]

    def redact(self, text: str) -> str:
        if not self._values:
            return text
        parts: list[str] = []
        start = i = 0
        last = len(text) - MIN_SECRET_LENGTH
        with self._lock:
            index = self._by_prefix
            while i <= last:
                bucket = index.get(text[i : i + MIN_SECRET_LENGTH])
                found = bucket and max(
                    (v for v in bucket if text.startswith(v, i)), key=len, default=""
                )
                if not found:
                    i += 1
                    continue
                parts += [text[start:i], MASK]
                i = start = i + len(found)
        return "".join(parts) + text[start:] if parts else text


_REGISTRY = _Registry()


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never appear in a log line or an error text (process-wide)."""
    _REGISTRY.add(values)


def redact(text: str) -> str:
    """`text` without registered secret values, secret parameters' values or tokens."""
    text = _REGISTRY.redact(text)
    text = _PARAMETER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _JSON_FIELD.sub(lambda m: m.group(1) + m.group(2) + MASK + m.group(4), text)
    return _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class RedactingFilter(logging.Filter):
    """Redacts a record in place: its message (args merged in), extras and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call: the handler reports it as usual
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()


def install_redaction() -> None:
    """Redact every log record of this process from now on (idempotent).

    The record factory covers every logger and handler, present and future; the filter on
    the root logger's handlers also covers `extra=` fields, which are set after the
    factory has made the record.
    """
    wrap_record_factory(_FILTER)
    with _install_lock:
        for handler in logging.getLogger().handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
