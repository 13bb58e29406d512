"""The Slack adapter beyond the contract suite: errors in HTTP 200 bodies, tiers, bots and
deactivated users, posting messages, and Events API deliveries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters import parse_webhook
from adapters.sandbox_server import SandboxServer
from adapters.slack import SlackAdapter
from adapters.toolkit import CursorState, RecordError
from integration_core.clock import utcnow
from integration_core.credentials import CredentialRecord, CredentialStatus
from integration_core.errors import AuthError, PermanentError, RetryableError
from integration_core.models import Connection
from integration_core.ports import ChangePage
from tests.harness.adapters import StaticBearer
from tests.harness.embedded import connect, embedded_runtime
from tests.harness.fakes.slack import SlackFake
from tests.harness.http_faults import FaultyTransport
from tests.harness.oauth_server import OAuthServer
from tests.harness.slack_harness import slack_adapter

pytestmark = pytest.mark.unit

# The Events API wrapper as api.slack.com/apis/connections/events-api#callback-field
# shows it (the same fields as GenericEventWrapper in provider-specs/slack/
# slack_events_api_async_v1.json), around the event of api.slack.com/events/user_change.
USER_CHANGE: dict[str, Any] = {
    "token": "XXYYZZ",
    "team_id": "T012AB3C4",
    "api_app_id": "AXXXXXXXXX",
    "event": {
        "type": "user_change",
        "user": {
            "id": "W012A3CDE",
            "team_id": "T012AB3C4",
            "name": "spengler",
            "deleted": False,
            "real_name": "Egon Spengler",
            "profile": {"email": "spengler@ghostbusters.example.com", "real_name": "Egon Spengler"},
            "is_bot": False,
            "updated": 1502138686,
        },
        "cache_ts": 1502138686,
        "event_ts": "1502138686.000100",
    },
    "type": "event_callback",
    "event_id": "Ev08MFMKH6",
    "event_time": 1502138686,
    "authed_users": ["W012A3CDE"],
}


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def test_user_change_and_team_join_are_thin_contact_notices() -> None:
    [changed] = parse_webhook("slack", headers={}, body=_body(USER_CHANGE))
    assert (changed.object_type, changed.external_id, changed.operation) == (
        "contact",
        "W012A3CDE",
        "upsert",
    )
    assert changed.occurred_at is not None
    assert int(changed.occurred_at.timestamp()) == 1502138686
    joined = {**USER_CHANGE, "event": {**USER_CHANGE["event"], "type": "team_join"}}
    assert [n.external_id for n in parse_webhook("slack", headers={}, body=_body(joined))] == [
        "W012A3CDE"
    ]


def test_other_events_bots_and_the_handshake_give_no_notices() -> None:
    message = {**USER_CHANGE, "event": {"type": "message", "text": "hi", "event_ts": "1.0"}}
    bot = {
        **USER_CHANGE,
        "event": {**USER_CHANGE["event"], "user": {**USER_CHANGE["event"]["user"], "is_bot": True}},
    }
    # api.slack.com/events/url_verification
    handshake = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2",
        "type": "url_verification",
    }
    for payload in (message, bot, handshake):
        assert parse_webhook("slack", headers={}, body=_body(payload)) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "slack webhook: the body is not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"type": "event_callback"}', "without an event"),
        (b'{"type": "event_callback", "event": {"type": "user_change"}}', "no user object"),
        (
            b'{"type": "event_callback", "event": {"type": "team_join", "user": {}}}',
            "no record id",
        ),
    ],
)
def test_a_slack_body_it_cannot_read_is_a_permanent_error(body: bytes, problem: str) -> None:
    with pytest.raises(PermanentError, match=problem):
        parse_webhook("slack", headers={}, body=body)


@pytest.fixture
def slack() -> Iterator[tuple[SlackFake, str]]:
    fake = SlackFake()
    with SandboxServer(fake) as server:
        yield fake, f"{server.base_url}/api"


def _adapter(
    slack: tuple[SlackFake, str], *, token: str | None = None, faults: FaultyTransport | None = None
) -> SlackAdapter:
    fake, url = slack
    return slack_adapter(url, auth=StaticBearer(token or fake.token), transport=faults)


def _person(i: int) -> dict[str, Any]:
    return {"first_name": f"P{i}", "last_name": "Q", "email": f"p{i}@example.com"}


def test_bots_are_left_out_and_a_deactivated_user_is_a_tombstone(
    slack: tuple[SlackFake, str],
) -> None:
    fake, _ = slack
    alive = fake.add_user(_person(1))
    gone = fake.add_user(_person(2))
    bot = fake.add_user({"first_name": "Build", "last_name": "Bot"}, is_bot=True)
    fake.deactivate(gone)
    with _adapter(slack) as adapter:
        page = adapter.read_changes("contact", None, page_size=10)
        assert {(c.external_id, c.deleted) for c in page.changes} == {(alive, False), (gone, True)}
        assert page.changes[0].values["profile"]["email"] == "p1@example.com"
        assert adapter.read_record("contact", bot) is None
        read_gone = adapter.read_record("contact", gone)
    assert read_gone is not None
    assert read_gone.deleted


def test_the_default_mapping_reads_profile_fields_and_writes_none() -> None:
    mapping = SlackAdapter.field_map("contact")
    assert {f.canonical[0] for f in mapping.fields} == {
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
    }
    assert {f.direction for f in mapping.fields} == {"read"}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("invalid_auth", AuthError),
        ("token_revoked", AuthError),
        ("missing_scope", AuthError),
        ("fatal_error", RetryableError),
        ("ratelimited", RetryableError),
        ("limit_required", PermanentError),
    ],
)
def test_ok_false_in_a_200_is_mapped_by_its_error_code(
    slack: tuple[SlackFake, str], error: str, expected: type[Exception]
) -> None:
    faults = FaultyTransport(httpx.HTTPTransport())
    # Twice: a refused token is refreshed once and the call sent again.
    faults.answer(200, content=json.dumps({"ok": False, "error": error}).encode(), count=2)
    with _adapter(slack, faults=faults) as adapter, pytest.raises(expected) as caught:
        adapter.read_changes("contact", None, page_size=10)
    assert error in str(caught.value)
    if expected is AuthError:
        assert not isinstance(caught.value, RetryableError)


def test_an_invalid_cursor_mid_scan_restarts_the_scan_without_deletes(
    slack: tuple[SlackFake, str],
) -> None:
    fake, _ = slack
    made = {fake.add_user(_person(i)) for i in range(5)}
    with _adapter(slack) as adapter:
        first = adapter.read_changes("contact", None, page_size=2)
        stale = CursorState.decode(first.cursor)
        broken = type(stale)(page="bm90LWEtY3Vyc29y", full=True, started=stale.started).encode()
        seen: list[str] = []
        page = adapter.read_changes("contact", broken, page_size=2)  # restarts from the top
        seen += [c.external_id for c in page.changes]
        while page.has_more:
            page = adapter.read_changes("contact", page.cursor, page_size=2)
            seen += [c.external_id for c in page.changes]
    assert sorted(seen) == sorted(made)


def test_the_tier_2_limit_is_a_retryable_429_with_its_retry_after(
    slack: tuple[SlackFake, str],
) -> None:
    fake, _ = slack
    fake.tier2_per_minute = 1
    fake.add_user(_person(1))
    with _adapter(slack) as adapter:
        adapter.read_changes("contact", None, page_size=10)
        with pytest.raises(RetryableError) as caught:
            adapter.read_changes("contact", None, page_size=10)
        limits = {limit.key.rsplit(":", 1)[-1]: limit for limit in adapter.rate_limits()}
    assert caught.value.retry_after == 30
    assert limits["tier2"].max_requests == 20


def test_users_are_read_only(slack: tuple[SlackFake, str]) -> None:
    fake, _ = slack
    user = fake.add_user(_person(1))
    with _adapter(slack) as adapter:
        with pytest.raises(PermanentError, match="read-only"):
            adapter.write("contact", None, {"profile": {"title": "x"}}, idempotency_key="k")
        with pytest.raises(PermanentError, match="read-only"):
            adapter.delete("contact", user)


def test_post_message_and_its_errors(slack: tuple[SlackFake, str]) -> None:
    fake, _ = slack
    with _adapter(slack) as adapter:
        ts = adapter.post_message("C0123456789", "3 sync tasks failing")
        with pytest.raises(PermanentError, match="channel_not_found"):
            adapter.post_message("C0000000000", "nowhere")
        adapter.health()
    with _adapter(slack, token="xoxb-wrong") as adapter, pytest.raises(AuthError):
        adapter.health()
    assert fake.messages == [{"channel": "C0123456789", "text": "3 sync tasks failing", "ts": ts}]


class _Workspace:
    """The Slack fake on loopback as a connection of an embedded runtime, its access token
    bought from a real OAuth server (which issues the fake's token) and the connection's
    requests through `faults`."""

    def __init__(self, tmp_path: Path, fake: SlackFake, url: str, oauth: OAuthServer) -> None:
        self.faults = FaultyTransport(httpx.HTTPTransport())
        self.oauth = oauth
        self.rt = embedded_runtime(tmp_path, {}, transports={httpx.URL(url).host: self.faults})
        self.connection = Connection(
            id="slack", tenant_id="t1", system="slack", config={"base_url": url}
        )
        self.fake = fake

    def connect(self, credential: dict[str, Any]) -> None:
        connect(self.rt, self.connection, credential, expires_at=utcnow() + timedelta(hours=1))

    def connect_oauth(self, access_token: str) -> None:
        """An OAuth credential whose access token (`access_token`) is valid for an hour."""
        self.connect(
            {
                "type": "oauth2_authorization_code",
                "token_url": self.oauth.token_url,
                "client_id": self.oauth.client_id,
                "client_secret": self.oauth.client_secret,
                "refresh_token": self.oauth.issue_refresh_token(),
                "access_token": access_token,
            }
        )

    def read(self) -> ChangePage:
        adapter = self.rt.connectors.adapter_for(self.connection)
        try:
            return adapter.read_changes("contact", None, page_size=10)
        finally:
            adapter.close()

    def credential(self) -> CredentialRecord:
        credentials = self.rt.credentials
        return credentials.get_record("t1", credentials.credential_id_for_connection("t1", "slack"))


@pytest.fixture
def workspace(slack: tuple[SlackFake, str], tmp_path: Path) -> Iterator[_Workspace]:
    fake, url = slack
    fake.add_user(_person(1))
    with OAuthServer(fixed_access_token=fake.token) as oauth:
        built = _Workspace(tmp_path, fake, url, oauth)
        yield built
        built.rt.close()


@pytest.mark.parametrize("error", ["invalid_auth", "token_expired"])
def test_a_token_refused_in_a_200_is_refreshed_once_and_the_call_sent_again(
    workspace: _Workspace, error: str
) -> None:
    oauth = workspace.oauth
    workspace.connect_oauth("xoxe.xoxp-1-refused")  # not yet expired by its clock
    workspace.faults.answer(200, content=json.dumps({"ok": False, "error": error}).encode())
    page = workspace.read()
    assert len(page.changes) == 1
    assert len(oauth.calls) == 1  # one refresh
    assert len(workspace.faults.requests) == 2  # the call, and once more
    assert workspace.credential().refresh_count == 1


def test_a_token_refused_again_after_its_refresh_is_an_auth_failure(
    workspace: _Workspace,
) -> None:
    oauth = workspace.oauth
    workspace.connect_oauth("xoxe.xoxp-1-refused")
    refused = json.dumps({"ok": False, "error": "invalid_auth"}).encode()
    workspace.faults.answer(200, content=refused, count=2)
    with pytest.raises(AuthError, match="invalid_auth"):
        workspace.read()
    assert len(oauth.calls) == 1
    assert len(workspace.faults.requests) == 2


def test_a_static_token_refused_in_a_200_needs_a_person(workspace: _Workspace) -> None:
    workspace.connect({"type": "bearer_token", "token": "xoxb-revoked"})
    with pytest.raises(AuthError, match="invalid_auth"):
        workspace.read()
    assert len(workspace.faults.requests) == 1  # nothing to refresh: not sent again
    assert workspace.credential().status is CredentialStatus.NEEDS_REAUTH


def test_a_missing_scope_is_no_reason_to_refresh(workspace: _Workspace) -> None:
    oauth = workspace.oauth
    workspace.connect_oauth(workspace.fake.token)
    workspace.faults.answer(200, content=b'{"ok": false, "error": "missing_scope"}')
    with pytest.raises(AuthError, match="missing_scope"):
        workspace.read()
    assert (len(oauth.calls), len(workspace.faults.requests)) == (0, 1)


def test_a_users_version_is_updated_with_a_digest_and_updated_must_be_whole_seconds() -> None:
    """The version (stored on links) as ever: `updated`, then a digest of what syncs."""
    user = USER_CHANGE["event"]["user"]
    adapter = slack_adapter("https://slack.com/api", auth=StaticBearer("t"))
    parts = ["1502138686", "False", "None", "None", "spengler@ghostbusters.example.com"]
    parts += ["None", "None"]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=6).hexdigest()
    assert adapter.parse_record("contact", user).version == f"1502138686-{digest}"
    with pytest.raises(RecordError, match="field 'updated' is a float"):
        adapter.parse_record("contact", {**user, "updated": 1502138686.5})


@pytest.mark.parametrize("name", ["first_name", "last_name", "email", "phone", "title"])
def test_a_profile_edit_within_the_same_second_is_a_new_version(name: str) -> None:
    user = USER_CHANGE["event"]["user"]
    adapter = slack_adapter("https://slack.com/api", auth=StaticBearer("t"))
    edited = {**user, "profile": {**user["profile"], name: "edited"}}
    before, after = (adapter.parse_record("contact", u) for u in (user, edited))
    assert after.modified_at == before.modified_at
    assert after.version != before.version


def test_a_deactivation_within_the_same_second_is_a_new_version() -> None:
    user = USER_CHANGE["event"]["user"]
    adapter = slack_adapter("https://slack.com/api", auth=StaticBearer("t"))
    gone = adapter.parse_record("contact", {**user, "deleted": True})
    assert gone.deleted
    assert gone.version != adapter.parse_record("contact", user).version


def test_a_user_without_a_profile_or_with_updated_out_of_range_is_read_or_refused() -> None:
    user = {k: v for k, v in USER_CHANGE["event"]["user"].items() if k != "profile"}
    adapter = slack_adapter("https://slack.com/api", auth=StaticBearer("t"))
    parts = ["1502138686", "False", "None", "None", "None", "None", "None"]
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=6).hexdigest()
    assert adapter.parse_record("contact", user).version == f"1502138686-{digest}"
    with pytest.raises(RecordError, match=r"slack contact .*not epoch seconds"):
        adapter.parse_record("contact", {**user, "updated": 10**20})
