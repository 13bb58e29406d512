"""Helpers of the credentials package that are not API."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from integration_core.errors import ConnectionConfigurationError

__all__ = ["client_ssl_context", "REDACTED_KEYS"]

# Token-endpoint response fields that are secret and never copied into `extras`.
REDACTED_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "token", "signature", "client_secret"}
)


def client_ssl_context(
    *,
    certificate_pem: str,
    private_key_pem: str,
    key_password: str | None,
    ca_bundle_pem: str | None,
) -> ssl.SSLContext:
    """An SSL context presenting a client certificate.

    `ssl` loads chains only from files, so the PEMs go to a private (0700) temporary
    directory for the duration of the load and are removed at once. Material `ssl` refuses
    (a key that does not match the certificate, a broken CA bundle) is a configuration
    error of the connection, not a transient failure.
    """
    context = ssl.create_default_context()
    try:
        if ca_bundle_pem:
            context.load_verify_locations(cadata=ca_bundle_pem)
        with tempfile.TemporaryDirectory(prefix="lockstep-mtls-") as folder:
            cert_path = Path(folder) / "cert.pem"
            key_path = Path(folder) / "key.pem"
            for path, text in ((cert_path, certificate_pem), (key_path, private_key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
            context.load_cert_chain(cert_path, key_path, password=key_password)
    except (ssl.SSLError, ValueError) as err:
        reason = getattr(err, "reason", None) or str(err)[:120]
        raise ConnectionConfigurationError(
            f"client certificate cannot be used for TLS ({reason})"
        ) from err
    return context
