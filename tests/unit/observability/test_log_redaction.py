"""Secrets never reach a log line, whichever entry point configured logging.

The CLI is run as a user runs it (a subprocess at INFO); the function app is loaded the
way the Functions host loads it; the filter itself is checked on every part of a record.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.credentials.local import LocalSecretStore
from integration_core.observability import install_redaction, register_secrets
from integration_core.runtime import build_runtime
from integration_core.settings import load_settings
from tests.harness.embedded import connect_sandbox, embedded_runtime
from tests.harness.function_host import REPO, FunctionHost, sample_settings
from tests.harness.outbound import LOOPBACK_CIDRS
from tests.harness.sandbox import seeded_account

pytestmark = pytest.mark.unit


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """Each test starts from the stdlib's record factory and restores what was there."""
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(factory)


def _captured(logger: logging.Logger) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return stream, handler


def test_the_cli_at_info_never_logs_an_api_key_sent_as_a_query_parameter(
    tmp_path: Path,
) -> None:
    key = "ak-" + os.urandom(12).hex()
    env = {
        "STORE_BACKEND": "sqlite",
        "SQLITE_PATH": str(tmp_path / "lockstep.sqlite3"),
        "QUEUE_BACKEND": "inline",
        "SECRET_BACKEND": "local",
        "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.enc"),
        "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
        "OUTBOUND_ALLOW_PRIVATE_CIDRS": LOOPBACK_CIDRS,
    }
    account = seeded_account("crm", contacts=2)
    with SandboxServer(account) as server:
        rt = build_runtime(load_settings(**{name.lower(): value for name, value in env.items()}))
        connect_sandbox(rt, "c1", account, base_url=server.base_url)
        credential = {"type": "api_key", "key": key, "header": None, "query_param": "api_key"}
        rt.credentials.store_credential("t1", "c1", credential)
        rt.close()
        run = subprocess.run(
            [sys.executable, "-m", "integration_core", "--log-level", "INFO", "sync", "run"],
            cwd=REPO,
            env={"PATH": os.environ.get("PATH", ""), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    output = run.stdout + run.stderr
    assert "HTTP Request: GET" in output, output  # httpx's request line was logged...
    assert "api_key=***" in output
    assert key not in output  # ...without the key


def test_the_function_app_redacts_httpx_request_lines(fresh_logging: None) -> None:
    FunctionHost(sample_settings())
    stream, handler = _captured(logging.getLogger("httpx"))
    try:
        logging.getLogger("httpx").info(
            "HTTP Request: GET %s",
            "https://api.example/v1?api_key=ak-123456789",
            extra={"detail": ""},
        )
    finally:
        logging.getLogger("httpx").removeHandler(handler)
    assert stream.getvalue().strip() == "HTTP Request: GET https://api.example/v1?api_key=***"


def test_registered_secrets_are_removed_from_message_args_extras_and_tracebacks(
    fresh_logging: None,
) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    register_secrets([secret])
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(detail)s"))
    root.addHandler(handler)  # present at install: the filter also covers `extra=` fields
    install_redaction()
    logger = logging.getLogger("tests.redaction")
    logger.setLevel(logging.INFO)
    late, late_handler = _captured(logging.getLogger("tests.redaction.late"))  # added after
    try:
        logger.info("token %s rotated", secret, extra={"detail": f"was {secret}"})
        try:
            raise ValueError(f"provider said {secret}")
        except ValueError:
            logger.exception("call failed", extra={"detail": ""})
        logging.getLogger("tests.redaction.late").warning(
            "refresh_token=%s and %s", "rt-unregistered-1", secret, extra={"detail": ""}
        )
    finally:
        root.removeHandler(handler)
        logging.getLogger("tests.redaction.late").removeHandler(late_handler)
    text = stream.getvalue()
    assert secret not in text
    assert "token *** rotated was ***" in text
    assert "ValueError: provider said ***" in text
    assert late.getvalue().strip() == "refresh_token=*** and ***"


def test_secrets_the_app_loads_are_redacted_wherever_they_appear(
    tmp_path: Path, fresh_logging: None
) -> None:
    token = "pat" + os.urandom(10).hex()  # not in any name=value form: only registration finds it
    vault_key = LocalSecretStore.generate_key()
    rt = embedded_runtime(tmp_path, {}, local_secrets_key=vault_key)
    rt.credentials.store_credential("t1", "c1", {"type": "bearer_token", "token": token})
    rt.close()
    install_redaction()
    stream, handler = _captured(logging.getLogger("tests.redaction.loaded"))
    try:
        logging.getLogger("tests.redaction.loaded").warning(
            "provider echoed %s; vault key %s", token, vault_key, extra={"detail": ""}
        )
    finally:
        logging.getLogger("tests.redaction.loaded").removeHandler(handler)
    assert stream.getvalue().strip() == "provider echoed ***; vault key ***"
