"""The API host a token answer names (Salesforce's `instance_url`): kept with the
credential's metadata, checked against the outbound policy, and where a connection's
calls go — the connection's config being the fallback, a refresh naming another host
moving the calls there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.fakes.salesforce import SalesforceFake
from adapters.sandbox_server import SandboxServer
from integration_core.clock import utcnow
from integration_core.credentials import RefreshOutcome, TokenRefreshAudit
from integration_core.credentials.local import LocalSecretStore
from integration_core.models import Connection
from integration_core.net import OutboundPolicyError
from integration_core.runtime import Runtime
from tests.harness.adapters import salesforce_contact
from tests.harness.embedded import connect, embedded_runtime
from tests.harness.fakes.salesforce_examples import TOKEN_REFRESHED
from tests.harness.oauth_server import OAuthServer
from tests.unit.credentials.support import CONNECTION, TENANT, Stack

pytestmark = pytest.mark.unit

TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"


def test_the_instance_url_of_salesforces_token_answer_is_kept_with_the_metadata(
    tmp_path: Path,
) -> None:
    answer = httpx.MockTransport(lambda _: httpx.Response(200, json=TOKEN_REFRESHED))
    stack = Stack(tmp_path, LocalSecretStore.generate_key(), http=httpx.Client(transport=answer))
    record = stack.service.store_credential(
        TENANT,
        CONNECTION,
        {
            "type": "oauth2_authorization_code",
            "token_url": TOKEN_URL,
            "client_id": "3MVG9lKcPoNINVBIPJjdw1J9LLM82Hn",
            "refresh_token": "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrqUIAk.6ZeNlMU1VeW",
        },
    )
    assert record.instance_url is None  # nothing named yet
    stack.service.refresh(TENANT, record.id, force=True)
    refreshed = stack.service.get_record(TENANT, record.id)
    assert refreshed.instance_url == "https://yourInstance.salesforce.com"
    document = json.dumps(stack.documents.get("credentials", TENANT, record.id))
    assert TOKEN_REFRESHED["access_token"] not in document  # metadata, no secret
    stack.close()


def test_a_token_answer_naming_an_internal_address_is_refused(
    server: OAuthServer, stack: Stack
) -> None:
    server.instance_url = "https://na1.salesforce.com"
    credential = stack.store_auth_code(server)
    stack.access_token(credential)
    before = stack.service.get_record(TENANT, credential)
    server.instance_url = "http://169.254.169.254"
    with pytest.raises(OutboundPolicyError, match=r"instance_url.*169\.254\.169\.254"):
        stack.service.refresh(TENANT, credential, force=True)
    after = stack.service.get_record(TENANT, credential)
    assert (after.secret_version, after.instance_url) == (
        before.secret_version,
        "https://na1.salesforce.com",
    )
    audits = stack.documents.query(TokenRefreshAudit.container, partition_key=TENANT)
    last = max((TokenRefreshAudit.from_document(a) for a in audits), key=lambda a: a.started_at)
    assert last.outcome is RefreshOutcome.ERROR
    assert "169.254.169.254" in (last.error or "")


@pytest.mark.parametrize(
    "named", ["ftp://na1.salesforce.com", "http://10.0.0.7", "https://[::1]:8443", "not a url"]
)
def test_an_instance_url_the_policy_refuses_is_not_stored(tmp_path: Path, named: str) -> None:
    stack = Stack(tmp_path, LocalSecretStore.generate_key(), outbound=None)
    with pytest.raises(OutboundPolicyError, match="instance_url"):
        stack.service.store_credential(
            TENANT,
            CONNECTION,
            {
                "type": "oauth2_authorization_code",
                "token_url": TOKEN_URL,
                "client_id": "client",
                "refresh_token": "refresh",
                "access_token": "access",
                "extras": {"instance_url": named},
            },
        )
    stack.close()


class Orgs:
    """Two Salesforce orgs on loopback (where an org lives before and after a migration),
    both accepting the access tokens the OAuth server issues."""

    def __init__(self, oauth: OAuthServer, tmp_path: Path) -> None:
        self.oauth = oauth
        self.old, self.new = (
            SalesforceFake(token="never-issued", accepts=lambda t: t in oauth.issued_tokens())
            for _ in range(2)
        )
        self.old.create("Contact", salesforce_contact(1))
        self.new.create("Contact", salesforce_contact(2))
        self.rt: Runtime = embedded_runtime(tmp_path, {})


@pytest.fixture
def orgs(server: OAuthServer, tmp_path: Path) -> Iterator[tuple[Orgs, str, str]]:
    built = Orgs(server, tmp_path)
    with SandboxServer(built.old) as old, SandboxServer(built.new) as new:
        yield built, old.base_url, new.base_url
    built.rt.close()


def _emails(rt: Runtime) -> list[str]:
    connection = Connection.from_document(rt.store.get(Connection.container, "t1", "salesforce"))
    adapter = rt.connectors.adapter_for(connection)
    try:
        page = adapter.read_changes("contact", None, page_size=200)
    finally:
        adapter.close()
    return [str(c.values["Email"]) for c in page.changes]


def test_calls_go_to_the_instance_the_token_answer_names_the_config_as_fallback(
    orgs: tuple[Orgs, str, str],
) -> None:
    world, old_url, new_url = orgs
    connection = Connection(
        id="salesforce",
        tenant_id="t1",
        system="salesforce",
        config={"instance_url": old_url},
    )
    connect(
        world.rt,
        connection,
        {
            "type": "oauth2_authorization_code",
            "token_url": world.oauth.token_url,
            "client_id": world.oauth.client_id,
            "client_secret": world.oauth.client_secret,
            "refresh_token": world.oauth.issue_refresh_token(),
            "access_token": world.oauth.issue_access_token(),
        },
        expires_at=utcnow() + timedelta(hours=1),
    )
    # No token answer seen yet: the connection's config names the host.
    assert _emails(world.rt) == [salesforce_contact(1)["Email"]]

    # The org moved: the next refresh names its new instance, and calls follow it.
    world.oauth.instance_url = new_url
    credential = world.rt.credentials.credential_id_for_connection("t1", "salesforce")
    world.rt.credentials.refresh("t1", credential, force=True)
    assert _emails(world.rt) == [salesforce_contact(2)["Email"]]
    assert world.rt.credentials.get_record("t1", credential).instance_url == new_url
