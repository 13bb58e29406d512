"""Settings that would break the app are refused at start, naming the setting (issue 11, §8).

Before, each of these passed validation and failed later: on every message (an infinite
throttle wait), silently (an in-memory queue under the Functions host), or on the first
call with an SDK error that named no setting (and Health raised instead of answering).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import ConfigurationError
from integration_core.pipelines.health import check_app_health
from integration_core.settings import QueueBackend, load_settings
from tests.harness.function_host import FunctionHost, sample_settings

pytestmark = pytest.mark.unit

SAMPLE_KEY = sample_settings()["LOCAL_SECRETS_KEY"]


def _bad_values(tmp: Path) -> list[tuple[str, dict[str, str]]]:
    a_file = tmp / "a-file"
    a_file.write_text("x")
    sqlite = {"STORE_BACKEND": "sqlite"}
    return [
        ("THROTTLE_MAX_WAIT_SECONDS", {"THROTTLE_MAX_WAIT_SECONDS": "inf"}),
        ("THROTTLE_MAX_WAIT_SECONDS", {"THROTTLE_MAX_WAIT_SECONDS": "nan"}),
        ("LOCAL_SECRETS_KEY", {"LOCAL_SECRETS_KEY": "change-me-local-development-only"}),
        ("LOCAL_SECRETS_KEY", {"LOCAL_SECRETS_KEY": "not base64 at all!"}),
        ("SQLITE_PATH", sqlite | {"SQLITE_PATH": str(tmp)}),
        ("SQLITE_PATH", sqlite | {"SQLITE_PATH": str(a_file / "store.sqlite3")}),
        ("REDIS_URL", {"REDIS_URL": "http://127.0.0.1:6379/0"}),
        ("REDIS_URL", {"REDIS_URL": "redis://127.0.0.1:sixthousand/0"}),
        ("AzureWebJobsStorage", {"AzureWebJobsStorage": "not-a-connection-string"}),
        ("AzureWebJobsStorage", {"AzureWebJobsStorage": "AccountName=acct;AccountKey=!!!"}),
        ("COSMOS_ENDPOINT", {"COSMOS_ENDPOINT": "localhost:8081"}),
        ("COSMOS_ENDPOINT", {"COSMOS_ENDPOINT": "ftp://cosmos.example.com/"}),
        ("COSMOS_KEY", {"COSMOS_KEY": "not-a-base64-key!"}),
        ("KEY_VAULT_URL", {"SECRET_BACKEND": "keyvault", "KEY_VAULT_URL": "vault.example"}),
        (
            "ServiceBusConnection",
            {"QUEUE_BACKEND": "servicebus", "ServiceBusConnection": "Endpoint=sb://x/"},
        ),
        ("LOG_LEVEL", {"LOG_LEVEL": "LOUD"}),
        ("BREAKER_FAILURES", {"BREAKER_FAILURES": "0"}),
        ("BREAKER_WINDOW_SECONDS", {"BREAKER_WINDOW_SECONDS": "inf"}),
        ("BREAKER_COOLDOWN_SECONDS", {"BREAKER_COOLDOWN_SECONDS": "inf"}),
        ("BREAKER_COOLDOWN_SECONDS", {"BREAKER_COOLDOWN_SECONDS": "1e300"}),
        ("NOTIFY_DIGEST_MINUTES", {"NOTIFY_DIGEST_MINUTES": "100000000000"}),
        ("NOTIFY_SCHEDULE", {"NOTIFY_SCHEDULE": "every minute"}),
        ("NOTIFY_SCHEDULE", {"NOTIFY_SCHEDULE": "0 */5 * * * * *"}),
        ("SYNC_SCHEDULE", {"SYNC_SCHEDULE": "soon"}),
        ("MASS_DELETE_SHARE", {"MASS_DELETE_SHARE": "nan"}),
        ("MASS_DELETE_SHARE", {"MASS_DELETE_SHARE": "1.5"}),
        ("MASS_DELETE_MIN_RECORDS", {"MASS_DELETE_MIN_RECORDS": "-1"}),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            {"APPLICATIONINSIGHTS_CONNECTION_STRING": "not-a-connection-string"},
        ),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            {
                "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                    "IngestionEndpoint=ingest.example"
                )
            },
        ),
        ("OTEL_CONSOLE", {"OTEL_CONSOLE": "loud"}),
        ("QUEUE_BACKEND", {"QUEUE_BACKEND": "inline"}),
    ]


def test_every_bad_value_stops_the_app_at_start_naming_only_the_setting(tmp_path: Path) -> None:
    accepted = []
    for setting, overrides in _bad_values(tmp_path):
        try:
            FunctionHost(sample_settings() | overrides)
        except ConfigurationError as err:
            message = str(err)
            assert setting in message, message
            for value in overrides.values():
                if value not in ("sqlite", "inline", "inf", "nan", "keyvault", "servicebus", "0"):
                    assert value not in message, f"{setting}: the message echoes the value"
        else:
            accepted.append(f"{setting}={overrides[setting]!r}")
    assert accepted == []


@pytest.fixture
def sample_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sample_settings().items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("sample_environment")
def test_the_sample_settings_are_valid_and_its_secret_key_opens_a_store(tmp_path: Path) -> None:
    settings = load_settings(log_level="info")
    assert settings.log_level == "INFO"
    store = LocalSecretStore(tmp_path / "secrets.enc", SAMPLE_KEY)
    store.ping()


@pytest.mark.usefixtures("sample_environment")
def test_the_inline_queue_is_fine_for_the_cli_and_demo() -> None:
    assert load_settings(queue_backend="inline").queue_backend is QueueBackend.INLINE


def test_health_answers_503_with_a_reason_when_a_backend_cannot_be_built() -> None:
    host = FunctionHost(sample_settings() | {"COSMOS_ENDPOINT": "https://127.0.0.1:1/"})
    response = host.http("GET", "/api/health")
    assert response.status_code == 503
    body = json.loads(response.get_body())
    assert body["status"] == "unhealthy"
    assert body["reason"]
    assert "C2y6yDjf5" not in response.get_body().decode()  # the Cosmos key stays out


def test_a_failing_probe_is_named_in_the_reason_without_its_message() -> None:
    def store() -> None:
        raise RuntimeError("AccountKey=s3cr3t refused")

    report = check_app_health(lambda: {"store": store, "queue": lambda: None})
    body = json.dumps(report.to_json())
    assert not report.healthy
    assert report.to_json()["reason"] == "not answering: store"
    assert "s3cr3t" not in body
