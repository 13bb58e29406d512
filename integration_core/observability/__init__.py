"""Logging concerns shared by every entry point: secret redaction, the correlation id."""

from __future__ import annotations

from integration_core.observability.context import (
    ContextFilter,
    LogContext,
    current_context,
    install_log_context,
    log_context,
    new_correlation_id,
)
from integration_core.observability.redaction import (
    MASK,
    RedactingFilter,
    install_redaction,
    redact,
    register_secrets,
)

__all__ = [
    "MASK",
    "ContextFilter",
    "LogContext",
    "RedactingFilter",
    "current_context",
    "install_log_context",
    "install_redaction",
    "log_context",
    "new_correlation_id",
    "redact",
    "register_secrets",
]
