"""A sandbox tracker's tasks and a GitHub repository's issues (the GitHub-shaped fake on
loopback) kept in lockstep through the real pipelines, signed in as a GitHub App."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.models import Connection
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.embedded import connect, connect_sandbox, embedded_runtime
from tests.harness.fakes.github import GitHubFake, to_iso_seconds
from tests.harness.flows import Rounds
from tests.harness.prism import provider_spec
from tests.harness.webhooks import github_delivery
from tests.unit.credentials.support import rsa_keypair

pytestmark = pytest.mark.unit

FIELDS = ("title", "description", "status", "assignee")


def _task(i: int, **more: Any) -> dict[str, Any]:
    return {
        "title": f"Tracker task {i}",
        "description": f"Steps for task {i}",
        "status": "not_started",
        "assignee": "octocat",
        "labels": [f"area-{i}"],
        **more,
    }


class World:
    def __init__(self, tmp_path: Path, github_url: str, fake: GitHubFake, private: str) -> None:
        self.tracker = SandboxAccount(name="tracker", api_key="key-tracker")
        for i in range(3):
            self.tracker.create("tasks", _task(i, status="completed" if i == 2 else "not_started"))
        self.github = fake
        self.github.create_issue(
            "Spelling error in the README file",
            body="It looks like you accidently spelled 'commit' with two 't's.",
            labels=["bug"],
            assignees=["Codertocat"],
            milestone={"number": 1, "title": "v1.0", "due_on": "2019-05-23T07:00:00Z"},
        )
        self.github.create_issue("Update the changelog", labels=[])
        self.github.create_issue("Add a CONTRIBUTING file", pull_request=True)
        self.rt: Runtime = embedded_runtime(tmp_path, {"tracker": self.tracker})
        connect_sandbox(self.rt, "tracker", self.tracker, targets=("github",), entity_type="task")
        github = Connection(
            id="github",
            tenant_id="t1",
            system="github",
            config={"base_url": github_url, "owner": fake.owner, "repo": fake.repo},
        )
        credential = {
            "type": "github_app",
            "app_id": fake.app_id,
            "installation_id": fake.installation_id,
            "private_key": private,
            "api_url": github_url,
        }
        connect(self.rt, github, credential, targets=["tracker"], entity_type="task")
        self.sync = Rounds(self.rt)

    def snapshot(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        tracker = sorted(
            (*(r.properties.get(f) for f in FIELDS), sorted(r.properties.get("labels") or []))
            for r in self.tracker.records("tasks")
            if not r.archived
        )
        state = {"open": "not_started", "closed": "completed"}
        hub = sorted(
            (
                i.title,
                _description(i.body),
                state[i.state],
                i.assignees[0] if i.assignees else None,
                sorted(i.labels),
            )
            for i in self.github.issues()
            if i.state_reason != "not_planned"
        )
        return tracker, hub


def _description(body: str | None) -> str | None:
    """The synced description: the body without the create's idempotency mark."""
    return body.split("\n\n<!-- lockstep:")[0] if body else None


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    private, public = rsa_keypair()
    fake = GitHubFake(tokens=set(), app_id="12345", app_public_key=public, installation_id="777")
    with SandboxServer(fake) as server:
        built = World(tmp_path, server.base_url, fake, private)
        yield built
        built.rt.close()


def test_issues_and_tasks_sync_both_ways_with_a_github_app_installation(world: World) -> None:
    world.sync()
    tracker, github = world.snapshot()
    assert tracker == github
    assert len(github) == 5  # 3 tracker tasks + 2 issues; the pull request stays out
    assert len(world.github.tokens) == 1  # one installation token bought with the app JWT
    readme = next(
        r for r in world.tracker.records("tasks") if r.properties["title"].startswith("Spelling")
    )
    assert readme.properties["due_date"] == "2019-05-23"  # the milestone's due date

    # An edit on each side; a task done in the tracker closes its issue.
    first = next(i for i in world.github.issues() if i.title == "Update the changelog")
    world.github.edit(str(first.number), title="Update the changelog for 2.0")
    todo = next(r for r in world.tracker.records("tasks") if r.properties["title"].endswith("0"))
    world.tracker.update("tasks", todo.id, {"status": "completed"})
    world.sync()
    tracker, github = world.snapshot()
    assert tracker == github
    closed = next(i for i in world.github.issues() if i.title == "Tracker task 0")
    assert (closed.state, closed.state_reason) == ("closed", "completed")

    # Idle: nothing pushed (the first idle round reads our own closing back), and then
    # GitHub's listing answers 304, which costs no rate limit.
    idle = world.sync()
    assert sum(r.pushed for r in idle) == 0
    before = world.github.used
    idle = world.sync()
    assert sum(r.pushed for r in idle) == 0
    listed = [s for m, p, s in world.github.requests if m == "GET" and p.endswith("/issues")]
    assert listed[-1] == 304
    assert world.github.used == before  # the 304s were free

    # Deletes: a task deleted in the tracker is closed as not planned; an issue closed as
    # not planned is deleted in the tracker.
    gone = next(r for r in world.tracker.records("tasks") if r.properties["title"].endswith("1"))
    world.tracker.archive("tasks", gone.id)
    world.github.edit(str(first.number), state="closed", state_reason="not_planned")
    world.sync()
    world.sync()
    tracker, github = world.snapshot()
    assert tracker == github
    assert len(github) == 3
    dropped = next(i for i in world.github.issues() if i.title == "Tracker task 1")
    assert dropped.state_reason == "not_planned"


def _deliver(world: World, action: str, number: str) -> None:
    """A signed `issues` delivery shaped as GitHub's published example, for issue `number`."""
    payload = json.loads(provider_spec(f"github-webhooks/issues/{action}.payload.json").read_text())
    issue = world.github.issue(number)
    payload["issue"].update(number=issue.number, updated_at=to_iso_seconds(issue.updated_at))
    registration, secret = WebhookRegistrations(world.rt.store, world.rt.credentials).register(
        "t1", "github", "github"
    )
    assert secret is not None
    headers, body = github_delivery(secret, payload)
    url = "https://lockstep.example/api/webhooks/github"
    reply = receive_webhook(world.rt, registration.id, headers=headers, body=body, url=url)
    assert reply.status == 202, reply.body
    report = drain_queues(world.rt)
    assert report.poisoned == []


def test_issues_webhooks_reach_the_tracker_without_a_pull(world: World) -> None:
    world.sync()
    [readme] = [i for i in world.github.issues() if i.title.startswith("Spelling")]
    world.github.edit(str(readme.number), title="Spelling error in the README")
    _deliver(world, "edited", str(readme.number))
    titles = {r.properties["title"] for r in world.tracker.records("tasks") if not r.archived}
    assert "Spelling error in the README" in titles

    world.github.delete_issue(str(readme.number))  # an admin deletes it: 410 from now on
    _deliver(world, "deleted", str(readme.number))
    titles = {r.properties["title"] for r in world.tracker.records("tasks") if not r.archived}
    assert "Spelling error in the README" not in titles
    assert len(titles) == 4
