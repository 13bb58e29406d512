"""A GitHub repository's issues and a Notion database's pages kept in lockstep as tasks,
both ways, through the function app's registrations on Azurite + the Cosmos emulator +
Redis.

The GitHub-shaped and Notion-shaped fakes serve on loopback. Both hold tasks before the
first sync, two of them the same task. "The same task" is what the default task rules
link without review: the same title, description and assignee (a title with a
description alone only reaches the review band). The assignee is an email in the hub, so
each side names its users through a lookup table in its sync task's mapping — a GitHub
login, a Notion user id — as a user with both would configure. The Notion side also maps
its Assignee column, which the default (Notion's task list template) lacks.

After the rounds each system holds one record per task with the same values (title,
description, status, assignee, labels); an edit on each side reaches the other; an issue
closed as not planned trashes its page, and a page trashed (its signed `page.deleted`
webhook) closes its issue as not planned; an idle round writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from adapters.sandbox_server import SandboxServer
from integration_core.clock import to_iso, utcnow
from integration_core.models import Connection
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.e2e.conftest import runtime
from tests.harness.embedded import connect
from tests.harness.fakes.github import GitHubFake
from tests.harness.fakes.notion import NotionFake, rich, title
from tests.harness.flows import WORKERS, host_round
from tests.harness.function_host import FunctionHost
from tests.harness.webhooks import notion_delivery

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
TENANT = "t1"
SHARED, GITHUB_ONLY, NOTION_ONLY = range(0, 2), range(2, 4), range(4, 6)

# The database id of Notion's database object example (developers.notion.com/reference/database).
TASKS_DATABASE = "bc1211ca-e3f1-4939-ae34-5260b16f627c"
TASKS_SCHEMA = {
    "Task name": "title",
    "Status": "status",
    "Assignee": "people",
    "Due": "date",
    "Tags": "multi_select",
    "Description": "rich_text",
    "Lockstep ID": "rich_text",
}
# Who is who: a GitHub login and a Notion user id for each person, by email.
PEOPLE = {
    "mona@example.com": ("octocat", "e79a0b74-3aba-4149-9f74-0bb5791a6ee6"),
    "hubot@example.com": ("hubot", "d40e767c-d7af-4b18-a86d-55c61f1e39a4"),
}
NOTION_STATUS = {"not_started": "Not started", "in_progress": "In progress", "completed": "Done"}
SECRET = "notion-verification-token"
_MARK = re.compile(r"\s*<!-- lockstep:[^>\s]+ -->\s*$")


TITLES = (
    "Fix the login redirect loop",
    "Write the release notes for 2.4",
    "Rotate the staging database password",
    "Translate onboarding emails into Spanish",
    "Benchmark the CSV importer",
    "Archive last year's support tickets",
)


def task(i: int) -> dict[str, Any]:
    """Task i as canonical values; every third is done, assignees alternate. Task 2's
    description is longer than a Notion rich text run may be (2,000 characters)."""
    description = f"Steps and acceptance criteria for: {TITLES[i].lower()}"
    if i == 2:
        description += "".join(
            f"\n- step {n}: check the rotation in every region" for n in range(99)
        )
    return {
        "title": TITLES[i],
        "description": description,
        "status": "completed" if i % 3 == 2 else "not_started",
        "assignee": sorted(PEOPLE)[i % 2],
        "labels": sorted({f"area-{i % 3}", "importer"}),
    }


def _issue_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "body": values["description"],
        "state": "closed" if values["status"] == "completed" else "open",
        "labels": values["labels"],
        "assignees": [PEOPLE[values["assignee"]][0]],
    }


def _page(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "Task name": title(values["title"]),
        "Description": rich(values["description"]),
        "Status": {"status": {"name": NOTION_STATUS[values["status"]]}},
        "Assignee": {"people": [{"object": "user", "id": PEOPLE[values["assignee"]][1]}]},
        "Tags": {"multi_select": [{"name": label} for label in values["labels"]]},
    }


@dataclass
class Trackers:
    github: GitHubFake
    notion: NotionFake
    rt: Runtime
    webhook: str  # the Notion webhook registration's id
    later: list[timedelta]  # how far Notion's clock runs ahead (a user's edit minutes later)

    def issues(self) -> dict[str, dict[str, Any]]:
        """Live issues (not closed as not planned) as canonical values, by title."""
        found: dict[str, dict[str, Any]] = {}
        for issue in self.github.issues():
            if issue.state == "closed" and issue.state_reason == "not_planned":
                continue
            assert issue.title not in found, f"two issues for {issue.title}"
            email = {login: email for email, (login, _) in PEOPLE.items()}
            found[issue.title] = {
                "title": issue.title,
                "description": _MARK.sub("", issue.body or ""),
                "status": "completed" if issue.state == "closed" else "not_started",
                "assignee": email[issue.assignees[0]] if issue.assignees else None,
                "labels": sorted(issue.labels),
            }
        return found

    def pages(self) -> dict[str, dict[str, Any]]:
        """Live pages (not trashed) as canonical values, by title."""
        found: dict[str, dict[str, Any]] = {}
        status = {name: value for value, name in NOTION_STATUS.items()}
        email = {user: email for email, (_, user) in PEOPLE.items()}
        for page_id in self.notion.live_ids(TASKS_DATABASE):
            props = self.notion.page(page_id)["properties"]
            name = _text(props["Task name"]["title"])
            assert name not in found, f"two pages for {name}"
            people = props["Assignee"]["people"]
            found[name] = {
                "title": name,
                "description": _text(props["Description"]["rich_text"]),
                "status": status[props["Status"]["status"]["name"]],
                "assignee": email[people[0]["id"]] if people else None,
                "labels": sorted(o["name"] for o in props["Tags"]["multi_select"]),
            }
        return found

    def page_id(self, name: str) -> str:
        return next(
            p
            for p in self.notion.live_ids(TASKS_DATABASE)
            if _text(self.notion.page(p)["properties"]["Task name"]["title"]) == name
        )

    def issue_number(self, name: str) -> str:
        return next(str(i.number) for i in self.github.issues() if i.title == name)


def _text(runs: list[dict[str, Any]]) -> str:
    return "".join(run["plain_text"] for run in runs)


def _assignee(source: str, convert: list[Any], table: str) -> dict[str, Any]:
    """A mapping override: the assignee through a lookup table (provider key -> email)."""
    lookup = {"name": "lookup", "options": {"table": table}}
    return {"source": source, "canonical": "assignee", "convert": [*convert, "first", lookup]}


@pytest.fixture
def trackers(host: FunctionHost) -> Iterator[Trackers]:
    github = GitHubFake(tokens={"ghp_e2e"})
    # Notion keeps edit times to the minute: a user's edit, minutes after a sync, lands
    # after the minute of our own writes.
    later = [timedelta(0)]
    notion = NotionFake(
        token="secret_e2e",
        databases={TASKS_DATABASE: TASKS_SCHEMA},
        clock=lambda: utcnow() + later[0],
    )
    for i in [*SHARED, *GITHUB_ONLY]:
        values = task(i)
        github.create_issue(values["title"], **_issue_fields(values))
    github.create_issue("Add a CONTRIBUTING file", pull_request=True)  # not a task
    for i in [*SHARED, *NOTION_ONLY]:
        notion.create(TASKS_DATABASE, _page(task(i)))
    with SandboxServer(github) as gh_server, SandboxServer(notion) as notion_server:
        rt = runtime(host)
        connect(
            rt,
            Connection(
                id="github",
                tenant_id=TENANT,
                system="github",
                config={"base_url": gh_server.base_url, "owner": github.owner, "repo": github.repo},
            ),
            {"type": "bearer_token", "token": github.token},
            targets=["notion"],
            entity_type="task",
            mapping={
                "fields": [_assignee("assignees", [], "github_users")],
                "lookups": {"github_users": {login: e for e, (login, _) in PEOPLE.items()}},
            },
        )
        connect(
            rt,
            Connection(
                id="notion",
                tenant_id=TENANT,
                system="notion",
                config={
                    "base_url": notion_server.base_url,
                    "databases": {"task": TASKS_DATABASE},
                    "id_property": "Lockstep ID",
                },
            ),
            {"type": "bearer_token", "token": notion.token},
            targets=["github"],
            entity_type="task",
            mapping={
                "fields": [_assignee("Assignee", ["notion_people"], "notion_users")],
                "lookups": {"notion_users": {user: e for e, (_, user) in PEOPLE.items()}},
            },
        )
        registration, _ = WebhookRegistrations(rt.store, rt.credentials).register(
            TENANT, "notion", "notion", secret=SECRET
        )
        yield Trackers(github, notion, rt, registration.id, later)


def _writes(trackers: Trackers, since: tuple[int, int]) -> list[tuple[str, ...]]:
    """Requests that changed something in either system since the counts `since`."""
    github = [r[:2] for r in trackers.github.requests[since[0] :] if r[0] != "GET"]
    notion = [
        r
        for r in trackers.notion.requests[since[1] :]
        if r[0] != "GET" and not r[1].endswith("/query")
    ]
    return github + notion


def _as_issues(tasks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tasks as GitHub holds them: an issue in progress is open, read as not started."""
    return {
        name: values | {"status": "not_started"} if values["status"] == "in_progress" else values
        for name, values in tasks.items()
    }


def _counts(trackers: Trackers) -> tuple[int, int]:
    return len(trackers.github.requests), len(trackers.notion.requests)


def test_github_issues_and_notion_pages_stay_in_lockstep_one_record_per_task(
    host: FunctionHost, trackers: Trackers
) -> None:
    for _ in range(3):
        host_round(host, trackers.rt)
    everything = {task(i)["title"]: task(i) for i in range(6)}
    assert trackers.issues() == _as_issues(everything)
    assert trackers.pages() == everything

    # An edit on each side: a GitHub issue retitled and relabelled, a Notion page done.
    later = trackers.later
    later[0] = timedelta(minutes=2)
    on_github, on_notion = task(4)["title"], task(1)["title"]
    trackers.github.edit(
        trackers.issue_number(on_github), title="Benchmark the importer", labels=["urgent"]
    )
    trackers.notion.update(
        trackers.page_id(on_notion),
        {"Status": {"status": {"name": "Done"}}, "Description": rich("Shipped on Friday")},
    )
    for _ in range(2):
        host_round(host, trackers.rt)
    everything["Benchmark the importer"] = {
        **everything.pop(on_github),
        "title": "Benchmark the importer",
        "labels": ["urgent"],
    }
    everything[on_notion] |= {"status": "completed", "description": "Shipped on Friday"}
    assert trackers.issues() == _as_issues(everything)
    assert trackers.pages() == everything

    # In progress in Notion is an open issue (GitHub has no such state); a later edit of
    # the issue brings its title, not "not started" in place of "in progress".
    started = task(5)["title"]
    trackers.notion.update(
        trackers.page_id(started), {"Status": {"status": {"name": "In progress"}}}
    )
    host_round(host, trackers.rt)
    later[0] = timedelta(minutes=3)
    trackers.github.edit(trackers.issue_number(started), title="Archive 2025's tickets")
    for _ in range(2):
        host_round(host, trackers.rt)
    everything["Archive 2025's tickets"] = {
        **everything.pop(started),
        "title": "Archive 2025's tickets",
        "status": "in_progress",
    }
    assert trackers.pages() == everything
    assert trackers.issues() == _as_issues(everything)

    # An issue closed as not planned trashes its page.
    closed = task(3)["title"]
    trackers.github.edit(trackers.issue_number(closed), state="closed", state_reason="not_planned")
    for _ in range(2):
        host_round(host, trackers.rt)
    del everything[closed]
    assert trackers.pages() == everything
    assert trackers.issues() == _as_issues(everything)

    # A page trashed in Notion (a query never lists it: its webhook says so) closes its
    # issue as not planned. https://developers.notion.com/reference/webhooks-events-delivery
    trashed = task(0)["title"]
    page_id = trackers.page_id(trashed)
    later[0] = timedelta(minutes=5)
    trackers.notion.trash(page_id)
    headers, body = notion_delivery(SECRET, _page_deleted(page_id, utcnow() + later[0]))
    reply = host.http("POST", f"/api/webhooks/{trackers.webhook}", body=body, headers=headers)
    assert reply.status_code == 202, reply.get_body()
    runs = host.drain(WORKERS)
    assert all(not run.poisoned for run in runs), runs
    number = next(str(i.number) for i in trackers.github.issues() if i.title == trashed)
    issue = trackers.github.issue(number)
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    del everything[trashed]
    assert trackers.issues() == _as_issues(everything)
    assert trackers.pages() == everything

    # An idle round writes nothing anywhere.
    before = _counts(trackers)
    host_round(host, trackers.rt)
    assert _writes(trackers, before) == []
    assert trackers.pages() == everything


def _page_deleted(page_id: str, at: Any) -> dict[str, Any]:
    """A `page.deleted` event as Notion's reference example shapes it."""
    return {
        "id": "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
        "timestamp": to_iso(at),
        "workspace_id": "13950b26-c203-4f3b-b97d-93ec06319565",
        "workspace_name": "Quantify Labs",
        "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
        "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
        "type": "page.deleted",
        "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page_id, "type": "page"},
        "data": {"parent": {"id": TASKS_DATABASE, "type": "database"}},
    }
