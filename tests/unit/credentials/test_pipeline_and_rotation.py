"""The TokenRefresher pipeline and secret rotation with an overlap window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from integration_core.clock import utcnow
from integration_core.credentials import (
    CredentialEventKind,
    RefreshOutcome,
    TokenRefreshAudit,
    WebhookSecret,
)
from integration_core.credentials.local import LocalSecretStore
from integration_core.models import Connection
from integration_core.pipelines.token_refresh import run_token_refresh
from integration_core.storage.base import CONTAINERS
from tests.harness import telemetry
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import TENANT, Stack

pytestmark = pytest.mark.unit


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    # Tokens outlive the 60-minute window, so a refreshed token is not due again at once.
    with OAuthServer(access_ttl_seconds=2 * 3600) as srv:
        yield srv


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, LocalSecretStore.generate_key())
    yield s
    s.close()


def _store(stack: Stack, server: OAuthServer, connection: str, minutes: float | None) -> str:
    stack.documents.upsert(
        Connection.container,
        Connection(id=connection, tenant_id=TENANT, system="hubspot").to_document(),
    )
    refresh_token = server.issue_refresh_token()
    payload = {
        "type": "oauth2_authorization_code",
        "token_url": server.token_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "refresh_token": refresh_token,
        "access_token": server.issue_access_token(),
    }
    expires = None if minutes is None else utcnow() + timedelta(minutes=minutes)
    record = stack.service.store_credential(TENANT, connection, payload, expires_at=expires)
    if minutes is None:
        server.revoke(refresh_token)
    return record.id


def test_refreshes_every_credential_due_within_the_window(
    server: OAuthServer, stack: Stack
) -> None:
    due = [_store(stack, server, f"due-{n}", 10 + n) for n in range(5)]
    later = _store(stack, server, "later", 180)
    stack.service.store_credential(TENANT, "static", {"type": "api_key", "key": "k"})
    telemetry.install()
    counted = telemetry.event_total("token_refresh", outcome="refreshed")
    report = run_token_refresh(stack.service, window=timedelta(minutes=60), concurrency=3)
    assert telemetry.event_total("token_refresh", outcome="refreshed") - counted == 5
    assert report.considered == 5
    assert report.refreshed == 5
    assert report.failed == 0
    assert len(server.calls) == 5
    for cred in due:
        record = stack.service.get_record(TENANT, cred)
        assert record.refresh_count == 1
        assert record.expires_at is not None
        assert record.expires_at > utcnow() + timedelta(minutes=55)
    assert stack.service.get_record(TENANT, later).refresh_count == 0

    audits = [
        TokenRefreshAudit.from_document(d)
        for d in stack.documents.query(TokenRefreshAudit.container, partition_key=TENANT)
    ]
    assert len(audits) == 5
    assert {a.credential_id for a in audits} == set(due)
    for audit in audits:
        assert audit.outcome is RefreshOutcome.REFRESHED
        assert audit.trigger == "timer"
        assert audit.new_expires_at is not None
        assert audit.duration_ms >= 0
        assert audit.ttl == CONTAINERS["token-refresh"]

    # A second run finds nothing due.
    assert run_token_refresh(stack.service).considered == 0


def test_one_failure_does_not_stop_the_others(server: OAuthServer, stack: Stack) -> None:
    good = _store(stack, server, "good", 5)
    bad = _store(stack, server, "bad", 5)
    stack.service.store_credential(  # its grant is dead: refresh_token unknown to the server
        TENANT,
        "bad",
        {
            "type": "oauth2_authorization_code",
            "token_url": server.token_url,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "refresh_token": "rt-unknown",
        },
    )
    report = run_token_refresh(stack.service, concurrency=2)
    assert report.outcomes == {"refreshed": 1, "needs_reauth": 1}
    assert stack.service.get_record(TENANT, good).refresh_count == 1
    assert stack.service.get_record(TENANT, bad).status.value == "needs_reauth"
    # Credentials needing re-auth are no longer scanned.
    assert run_token_refresh(stack.service).considered == 0


def test_webhook_secret_rotation_accepts_both_during_the_overlap(stack: Stack) -> None:
    record = stack.service.store_credential(
        TENANT, "github", {"type": "webhook_secret", "secret": "old-secret"}, name="webhook"
    )
    assert stack.service.webhook_secrets(TENANT, record.id) == ["old-secret"]
    stack.service.rotate(
        TENANT,
        record.id,
        WebhookSecret(secret="new-secret"),
        overlap=timedelta(hours=1),
    )
    assert stack.service.webhook_secrets(TENANT, record.id) == ["new-secret", "old-secret"]
    assert stack.notable_events()[-1].kind is CredentialEventKind.ROTATED
    # After the overlap only the new secret is accepted.
    stack.service.rotate(TENANT, record.id, WebhookSecret(secret="newer"), overlap=timedelta(0))
    assert stack.service.webhook_secrets(TENANT, record.id) == ["newer"]


def test_rotation_cannot_change_the_type(stack: Stack) -> None:
    from integration_core.errors import AuthError

    record = stack.service.store_credential(TENANT, "x", {"type": "api_key", "key": "k1"})
    with pytest.raises(AuthError):
        stack.service.rotate(TENANT, record.id, {"type": "bearer_token", "token": "t"})
