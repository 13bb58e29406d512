"""CredentialService refresh flows against the real loopback OAuth2 token endpoint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from integration_core.clock import utcnow
from integration_core.credentials import (
    CredentialEventKind,
    CredentialStatus,
    OAuth2AuthorizationCode,
    ReauthRequiredError,
    RefreshOutcome,
    TokenRefreshAudit,
)
from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import AuthError, RetryableError
from integration_core.models import Connection, ConnectionStatus, SyncTask
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import CONNECTION, TENANT, Stack

pytestmark = pytest.mark.unit


def _payload(stack: Stack, credential_id: str) -> OAuth2AuthorizationCode:
    record = stack.service.get_record(TENANT, credential_id)
    payload = stack.service.current_and_previous(TENANT, credential_id)[0]
    assert isinstance(payload, OAuth2AuthorizationCode)
    assert record.secret_version
    return payload


def _audits(stack: Stack) -> list[TokenRefreshAudit]:
    docs = stack.documents.query(TokenRefreshAudit.container, partition_key=TENANT)
    return [TokenRefreshAudit.from_document(d) for d in docs]


def test_fresh_token_is_used_without_calling_the_endpoint(
    server: OAuthServer, stack: Stack
) -> None:
    token = server.issue_access_token()
    cred = stack.store_auth_code(
        server, access_token=token, expires_at=utcnow() + timedelta(hours=1)
    )
    assert stack.access_token(cred) == token
    assert server.calls == []


def test_token_within_margin_is_refreshed_and_rotated_refresh_token_stored(
    server: OAuthServer, stack: Stack
) -> None:
    old_rt = server.issue_refresh_token()
    cred = stack.store_auth_code(
        server,
        access_token=server.issue_access_token(),
        expires_at=utcnow() + timedelta(minutes=2),
        refresh_token=old_rt,
    )
    new_token = stack.access_token(cred)
    assert len(server.calls) == 1
    payload = _payload(stack, cred)
    assert payload.access_token is not None
    assert payload.access_token.get_secret_value() == new_token
    stored_rt = payload.refresh_token.get_secret_value()
    assert stored_rt != old_rt
    assert stored_rt in server.valid_refresh_tokens()
    assert old_rt not in server.valid_refresh_tokens()
    record = stack.service.get_record(TENANT, cred)
    assert record.refresh_count == 1
    assert record.expires_at is not None
    assert record.expires_at > utcnow() + timedelta(minutes=50)
    assert record.last_refreshed_at is not None
    assert payload.extras["instance_url"] == server.base_url
    # A second refresh uses the rotated token and succeeds.
    stack.service.refresh(TENANT, cred, force=True)
    assert [c.status for c in server.calls] == [200, 200]


def test_no_new_refresh_token_keeps_the_old_one(tmp_path: Path) -> None:
    with OAuthServer(rotate_refresh_tokens=False) as server:
        stack = Stack(tmp_path, LocalSecretStore.generate_key())
        rt = server.issue_refresh_token()
        cred = stack.store_auth_code(server, refresh_token=rt)
        first = stack.access_token(cred)
        stack.service.refresh(TENANT, cred, force=True)
        payload = _payload(stack, cred)
        assert payload.refresh_token.get_secret_value() == rt
        assert payload.access_token is not None
        assert payload.access_token.get_secret_value() != first
        assert len(server.calls) == 2
        stack.close()


def test_invalid_grant_marks_connection_needs_reauth_and_pauses_syncs(
    server: OAuthServer, stack: Stack
) -> None:
    rt = server.issue_refresh_token()
    cred = stack.store_auth_code(server, refresh_token=rt)
    server.revoke(rt)
    with pytest.raises(ReauthRequiredError) as caught:
        stack.service.fresh_credential(TENANT, cred)
    assert caught.value.error_code == "invalid_grant"
    assert len(server.calls) == 1  # a dead grant is not retried
    record = stack.service.get_record(TENANT, cred)
    assert record.status is CredentialStatus.NEEDS_REAUTH
    connection = Connection.from_document(
        stack.documents.get(Connection.container, TENANT, CONNECTION)
    )
    assert sorted(connection.paused_task_ids) == ["task-0", "task-1"]
    assert connection.status is ConnectionStatus.NEEDS_REAUTH
    for n in range(2):
        task = SyncTask.from_document(stack.documents.get(SyncTask.container, TENANT, f"task-{n}"))
        assert task.enabled is False
    [event] = stack.notable_events()
    assert event.kind is CredentialEventKind.NEEDS_REAUTH
    assert event.detail == {"error_code": "invalid_grant"}
    # Further use fails fast without calling the endpoint again.
    with pytest.raises(ReauthRequiredError):
        stack.service.auth_for(TENANT, CONNECTION)
    assert len(server.calls) == 1
    assert [a.outcome for a in _audits(stack)] == [RefreshOutcome.NEEDS_REAUTH]

    # Re-authorizing (storing a new grant) resumes the connection and its syncs.
    stack.store_auth_code(server)
    assert stack.service.get_record(TENANT, cred).status is CredentialStatus.ACTIVE
    connection = Connection.from_document(
        stack.documents.get(Connection.container, TENANT, CONNECTION)
    )
    assert connection.status is ConnectionStatus.ACTIVE
    assert connection.credential_id == cred
    assert all(
        SyncTask.from_document(stack.documents.get(SyncTask.container, TENANT, f"task-{n}")).enabled
        for n in range(2)
    )
    assert stack.notable_events()[-1].kind is CredentialEventKind.REAUTHORIZED
    assert stack.access_token(cred)


def test_server_errors_are_retried_with_backoff_then_succeed(
    server: OAuthServer, stack: Stack
) -> None:
    cred = stack.store_auth_code(server)
    server.fail_next(503, {"error": "temporarily_unavailable"}, times=2)
    assert stack.access_token(cred)
    assert [c.status for c in server.calls] == [503, 503, 200]
    outcomes = sorted((a.attempt, a.outcome) for a in _audits(stack))
    assert outcomes == [
        (1, RefreshOutcome.RETRYABLE_ERROR),
        (2, RefreshOutcome.RETRYABLE_ERROR),
        (3, RefreshOutcome.REFRESHED),
    ]
    assert stack.service.get_record(TENANT, cred).status is CredentialStatus.ACTIVE


def test_retries_run_out_and_the_connection_stays_active(server: OAuthServer, stack: Stack) -> None:
    cred = stack.store_auth_code(server)
    server.fail_next(500, times=5)
    with pytest.raises(RetryableError):
        stack.service.fresh_credential(TENANT, cred)
    assert len(server.calls) == 3
    record = stack.service.get_record(TENANT, cred)
    assert record.status is CredentialStatus.ACTIVE
    assert record.consecutive_failures == 1
    assert record.last_error == "RetryableError"


def test_other_refusals_are_auth_errors_without_reauth(server: OAuthServer, stack: Stack) -> None:
    cred = stack.store_auth_code(server)
    server.fail_next(400, {"error": "invalid_scope"})
    with pytest.raises(AuthError) as caught:
        stack.service.fresh_credential(TENANT, cred)
    assert not isinstance(caught.value, ReauthRequiredError)
    assert stack.service.get_record(TENANT, cred).status is CredentialStatus.ACTIVE
    assert len(server.calls) == 1


def test_slow_endpoint_beyond_the_http_timeout_is_retryable(tmp_path: Path) -> None:
    with OAuthServer(delay_seconds=0.6) as server:
        stack = Stack(tmp_path, LocalSecretStore.generate_key(), token_timeout_seconds=0.2)
        cred = stack.store_auth_code(server)
        before = stack.service.get_record(TENANT, cred)
        with pytest.raises(RetryableError):
            stack.service.fresh_credential(TENANT, cred)
        after = stack.service.get_record(TENANT, cred)
        assert after.secret_version == before.secret_version  # nothing half-committed
        stack.close()
