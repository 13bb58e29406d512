"""The GitHub adapter's own behaviour beyond the contract suite: webhooks (GitHub's published
payload examples), rate limits, moved and deleted issues, pull requests, idle polls."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters import parse_webhook
from adapters.github import GitHubAdapter
from adapters.sandbox_server import SandboxServer
from adapters.toolkit import RecordError
from integration_core.errors import ConnectionConfigurationError, PermanentError, RetryableError
from tests.harness.adapters import StaticBearer
from tests.harness.fakes.github import GitHubFake
from tests.harness.github_harness import github_adapter
from tests.harness.prism import provider_spec

pytestmark = pytest.mark.unit


def _example(name: str) -> bytes:
    """octokit/webhooks' payload examples (GitHub's own deliveries), see provider-specs."""
    path: Path = provider_spec(f"github-webhooks/{name}")
    return path.read_bytes()


def _notices(event: str, name: str) -> list[tuple[str, str, str]]:
    notices = parse_webhook("github", headers={"X-GitHub-Event": event}, body=_example(name))
    return [(n.object_type, n.external_id, n.operation) for n in notices]


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("issues/opened.payload.json", "upsert"),
        ("issues/edited.payload.json", "upsert"),
        ("issues/assigned.payload.json", "upsert"),
        ("issues/labeled.payload.json", "upsert"),
        ("issues/milestoned.payload.json", "upsert"),
        ("issues/reopened.payload.json", "upsert"),
        ("issues/deleted.payload.json", "delete"),
        ("issues/transferred.payload.json", "delete"),
    ],
)
def test_issues_events_are_thin_task_notices_keyed_by_issue_number(
    name: str, operation: str
) -> None:
    issue = json.loads(_example(name))["issue"]
    assert _notices("issues", name) == [("task", str(issue["number"]), operation)]


def test_an_edit_notice_carries_the_issue_time_a_delete_none() -> None:
    headers = {"x-github-event": "issues"}  # header names in any case
    [edited] = parse_webhook("github", headers=headers, body=_example("issues/edited.payload.json"))
    assert edited.occurred_at is not None
    assert edited.values is None  # read by number
    [deleted] = parse_webhook(
        "github", headers=headers, body=_example("issues/deleted.payload.json")
    )
    assert deleted.occurred_at is None  # deleted after its last update: always read


def test_ping_and_comment_events_give_no_notices() -> None:
    assert _notices("ping", "ping/payload.json") == []
    assert _notices("ping", "ping/with-app_id.payload.json") == []
    assert _notices("issue_comment", "issue_comment/created.payload.json") == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "github webhook: the body is not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"action": "opened"}', "without an issue"),
        (b'{"action": "opened", "issue": {"title": "x"}}', "no record id"),
    ],
)
def test_a_github_body_it_cannot_read_is_a_permanent_error(body: bytes, problem: str) -> None:
    with pytest.raises(PermanentError, match=problem):
        parse_webhook("github", headers={"X-GitHub-Event": "issues"}, body=body)


@pytest.fixture
def fake() -> Iterator[tuple[GitHubFake, str]]:
    made = GitHubFake()
    with SandboxServer(made) as server:
        yield made, server.base_url


def _adapter(fake: tuple[GitHubFake, str]) -> GitHubAdapter:
    return github_adapter(fake[1], auth=StaticBearer(fake[0].token))


def test_pull_requests_are_not_tasks_and_the_listing_asks_for_updated_ascending(
    fake: tuple[GitHubFake, str],
) -> None:
    github, _ = fake
    issue = github.create_issue("A bug")
    github.create_issue("A fix", pull_request=True)
    with _adapter(fake) as adapter:
        page = adapter.read_changes("task", None, page_size=50)
        assert [c.external_id for c in page.changes] == [issue]
        github.create_issue("Another bug")
        adapter.read_changes("task", page.cursor, page_size=50)
    listing = [r for r in github.requests if r[1].endswith("/issues")]
    assert len(listing) == 2


def test_secondary_rate_limit_is_retryable_after_its_retry_after(
    fake: tuple[GitHubFake, str],
) -> None:
    github, _ = fake
    github.content_per_minute = 2
    with _adapter(fake) as adapter:
        for i in range(2):
            adapter.write("task", None, {"title": f"t{i}"})
        with pytest.raises(RetryableError) as caught:
            adapter.write("task", None, {"title": "one too many"})
    assert caught.value.retry_after == 60
    assert len(github.issues()) == 2


def test_a_spent_primary_limit_403_is_a_rate_limit_until_the_reset(
    fake: tuple[GitHubFake, str],
) -> None:
    github, _ = fake
    github.hourly_limit = 1
    github.create_issue("A bug")
    with _adapter(fake) as adapter:
        adapter.read_changes("task", None, page_size=10)  # the hour's last request
        with pytest.raises(RetryableError) as caught:
            adapter.read_record("task", "1")
    assert caught.value.retry_after is not None
    assert 3000 < caught.value.retry_after <= 3600  # x-ratelimit-reset, an hour away


def test_a_403_without_rate_limit_headers_is_an_auth_error() -> None:
    refused = GitHubAdapter.spec.errors.outcome(
        403, {"message": "Resource not accessible by integration"}, httpx.Headers({})
    )
    assert refused.outcome == "auth"


def test_deleted_and_transferred_issues_read_as_gone(fake: tuple[GitHubFake, str]) -> None:
    github, _ = fake
    deleted = github.create_issue("Deleted by an admin")
    moved = github.create_issue("Moved to another repository")
    kept = github.create_issue("Still here")
    github.delete_issue(deleted)
    github.transfer(moved, "octo-org/elsewhere")
    with _adapter(fake) as adapter:
        assert adapter.read_record("task", deleted) is None  # 410 Gone
        assert adapter.read_record("task", moved) is None  # 301 Moved Permanently
        assert adapter.read_record("task", kept) is not None
        listed = adapter.read_changes("task", None, page_size=10)
    assert [c.external_id for c in listed.changes] == [kept]


def test_an_idle_poll_is_a_conditional_request_answered_304(
    fake: tuple[GitHubFake, str],
) -> None:
    github, _ = fake
    github.create_issue("A bug")
    with _adapter(fake) as adapter:
        first = adapter.read_changes("task", None, page_size=10)
        second = adapter.read_changes("task", first.cursor, page_size=10)  # since = watermark
        used = github.used
        idle = adapter.read_changes("task", second.cursor, page_size=10)
        assert (idle.changes, idle.cursor, idle.has_more) == ([], second.cursor, False)
        assert github.used == used
        assert github.requests[-1][2] == 304
        github.edit("1", title="A bug, edited")
        changed = adapter.read_changes("task", idle.cursor, page_size=10)
    assert [c.values["title"] for c in changed.changes] == ["A bug, edited"]


def test_the_connection_names_its_repository(fake: tuple[GitHubFake, str]) -> None:
    config = {"owner": "octo-org", "repo": "hello-world"}
    assert GitHubAdapter.base_url(config) == "https://api.github.com/repos/octo-org/hello-world"
    enterprise = {**config, "base_url": "https://ghe.example.com/api/v3"}
    assert GitHubAdapter.base_url(enterprise).endswith("/api/v3/repos/octo-org/hello-world")
    with pytest.raises(ConnectionConfigurationError, match="repo"):
        GitHubAdapter.validate_config({"owner": "octo-org", "repo": "../admin"})


def test_an_issues_version_digests_what_syncs_as_ever() -> None:
    """The version links store: `updated_at`, title, raw body, state and reason, sorted
    logins and label names, milestone number, hashed (blake2b, 10 bytes)."""
    issue = {
        "number": 7,
        "title": "Fix the sync",
        "body": "Steps\n\n<!-- lockstep:k1 -->",
        "state": "closed",
        "state_reason": "completed",
        "updated_at": "2026-03-01T09:30:00Z",
        "assignees": [{"login": "zoe"}, {"login": "ada"}],
        "labels": [{"name": "bug"}, "area-sync"],
        "milestone": {"number": 3, "due_on": "2026-04-01T00:00:00Z"},
    }
    text = "\x1f".join(
        [
            "2026-03-01T09:30:00Z",
            "Fix the sync",
            "Steps\n\n<!-- lockstep:k1 -->",
            "closed",
            "completed",
            "ada\x1ezoe",
            "area-sync\x1ebug",
            "3",
        ]
    )
    adapter = github_adapter("https://api.github.com", auth=StaticBearer("t"))
    change = adapter.parse_record("task", issue)
    assert change.version == hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
    assert change.values["body"] == "Steps"


_ISSUE = {
    "number": 7,
    "title": "Fix the sync",
    "body": "Steps",
    "state": "open",
    "state_reason": None,
    "updated_at": "2026-03-01T09:30:00Z",
    "assignees": [{"login": "ada"}],
    "labels": [{"name": "bug"}],
    "milestone": {"number": 3, "due_on": "2026-04-01T00:00:00Z"},
}


@pytest.mark.parametrize(
    "edit",
    [
        {"title": "Fix the sync, now"},
        {"body": "Steps, more"},
        {"body": None},
        {"state": "closed", "state_reason": "completed"},
        {"state": "closed", "state_reason": "not_planned"},
        {"assignees": [{"login": "ada"}, {"login": "zoe"}]},
        {"assignees": []},
        {"labels": [{"name": "bug"}, {"name": "sync"}]},
        {"labels": [{"name": "bugs"}]},
        {"milestone": {"number": 4, "due_on": "2026-04-01T00:00:00Z"}},
        {"milestone": None},
    ],
)
def test_an_edit_within_the_same_second_is_a_new_version(edit: dict[str, object]) -> None:
    adapter = github_adapter("https://api.github.com", auth=StaticBearer("t"))
    before = adapter.parse_record("task", _ISSUE)
    after = adapter.parse_record("task", {**_ISSUE, **edit})
    assert after.modified_at == before.modified_at
    assert after.version != before.version


def test_a_name_not_text_digests_as_its_str_and_name_order_does_not_count() -> None:
    adapter = github_adapter("https://api.github.com", auth=StaticBearer("t"))
    odd = {**_ISSUE, "assignees": [{"login": 12}, {"login": "ada"}], "labels": [None, "bug"]}
    text = "\x1f".join(
        ["2026-03-01T09:30:00Z", "Fix the sync", "Steps", "open", "None"]
        + ["12\x1eada", "None\x1ebug", "3"]
    )
    expected = hashlib.blake2b(text.encode(), digest_size=10).hexdigest()
    assert adapter.parse_record("task", odd).version == expected
    swapped = {**_ISSUE, "assignees": [{"login": "zoe"}, {"login": "ada"}]}
    listed = {**_ISSUE, "assignees": [{"login": "ada"}, {"login": "zoe"}]}
    assert (
        adapter.parse_record("task", swapped).version
        == adapter.parse_record("task", listed).version
    )


@pytest.mark.parametrize("updated_at", [10**20, "99999999999999999999", "yesterday", None])
def test_an_issue_with_a_time_it_cannot_read_is_a_record_error_naming_it(
    updated_at: object,
) -> None:
    adapter = github_adapter("https://api.github.com", auth=StaticBearer("t"))
    with pytest.raises(RecordError, match="github task 7: "):
        adapter.parse_record("task", {**_ISSUE, "updated_at": updated_at})
