"""Logging concerns shared by every entry point: secret redaction."""

from __future__ import annotations

from integration_core.observability.redaction import (
    MASK,
    RedactingFilter,
    install_redaction,
    redact,
    register_secrets,
)

__all__ = ["MASK", "RedactingFilter", "install_redaction", "redact", "register_secrets"]
