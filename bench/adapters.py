"""Adapter benchmark: prints ONE JSON line of figures.

Per adapter (sandbox, hubspot, salesforce, notion, google, github, slack), against its
provider's fake served on loopback from a child process (so the fake's own CPU and memory are
not counted here):
- `read.per_s` / `write.per_s`: records read (a first sync, pages as large as the
  provider allows up to `--page-size`) and created per second through the adapter
  (`write` is null for Slack, whose users Lockstep only reads);
- `cpu_us_per_record`: this process's CPU per record through the adapter, beside a bare
  httpx loop making the same requests (same URLs and headers; the body parsed by httpx's
  `response.json()`) in the same run, interleaved after one unmeasured round, each round
  from a collected heap, best of `--rounds`; `overhead_pct` is the toolkit's cost over that
  loop (goal <= 25), the median over rounds of the toolkit's CPU over the loop's in the
  same round. The
  toolkit parses answers with orjson: `bare_orjson` is the same loop parsing with orjson
  too, and `overhead_vs_orjson_pct` the toolkit's cost over it (what the toolkit's own
  paging, checks and Changes cost, the parser aside);
- `peak_rss_mb`: this process's peak RSS after paging through `--sizes` records in turn
  (pages are streamed: it should stay flat from 10k to 100k).

- `pushes`: `--pushes` changes pushed HubSpot -> Salesforce through the pipelines,
  batched and one by one in the same run: API calls and wall time (bench/_pushes.py).

    .venv/bin/python bench/adapters.py [--sizes 10000,100000] [--writes 1000] [--pushes 1000]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.github import GitHubAdapter  # noqa: E402
from adapters.google import PERSON_FIELDS, GooglePeopleAdapter  # noqa: E402
from adapters.hubspot import HUBSPOT_MAPPINGS, HubSpotAdapter, mapped_properties  # noqa: E402
from adapters.notion import NOTION_VERSION, NotionAdapter  # noqa: E402
from adapters.salesforce import (  # noqa: E402
    DATA_PATH,
    SALESFORCE_MAPPINGS,
    SalesforceAdapter,
    soql_listing,
)
from adapters.sandbox import SandboxAdapter  # noqa: E402
from adapters.sandbox_server import SandboxAccount, SandboxServer  # noqa: E402
from adapters.slack import SlackAdapter  # noqa: E402
from adapters.toolkit.mappings import source_fields  # noqa: E402
from bench._pushes import pushes  # noqa: E402
from integration_core.models import Connection  # noqa: E402
from integration_core.ports import IntegrationAdapter  # noqa: E402
from tests.harness.adapters import salesforce_contact  # noqa: E402
from tests.harness.fakes.github import GitHubFake  # noqa: E402
from tests.harness.fakes.google_people import GooglePeopleFake  # noqa: E402
from tests.harness.fakes.hubspot import HubSpotFake  # noqa: E402
from tests.harness.fakes.notion import NotionFake  # noqa: E402
from tests.harness.fakes.salesforce import SalesforceFake  # noqa: E402
from tests.harness.fakes.slack import SlackFake  # noqa: E402
from tests.harness.notion_google import (  # noqa: E402
    CONTACTS_DATABASE,
    CONTACTS_SCHEMA,
    google_person,
    notion_contact,
)
from tests.harness.sandbox import SteppingClock, contact, sandbox_connection  # noqa: E402

TOKEN = "bench-key"  # noqa: S105 - the fakes' own test token
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
Parse = Callable[[httpx.Response], Any]


def _stdlib_json(response: httpx.Response) -> Any:
    return response.json()


def _orjson(response: httpx.Response) -> Any:
    return orjson.loads(response.content)


def _sandbox(records: int) -> WsgiApp:
    account = SandboxAccount(
        name="bench", api_key=TOKEN, clock=SteppingClock(), rate_limit_per_second=10**9
    )
    for i in range(records):
        account.create("contacts", contact(i))
    return account


def _hubspot(records: int) -> WsgiApp:
    fake = HubSpotFake(token=TOKEN, clock=SteppingClock())
    for i in range(records):
        fake.create("contacts", contact(i))
    return fake


def _salesforce(records: int) -> WsgiApp:
    fake = SalesforceFake(token=TOKEN, clock=SteppingClock())
    for i in range(records):
        fake.create("Contact", salesforce_contact(i))
    return fake


def _notion(records: int) -> WsgiApp:
    fake = NotionFake(token=TOKEN, databases={CONTACTS_DATABASE: CONTACTS_SCHEMA})
    for i in range(records):
        fake.create(CONTACTS_DATABASE, notion_contact(contact(i)))
    return fake


def _google(records: int) -> WsgiApp:
    fake = GooglePeopleFake(token=TOKEN)
    for i in range(records):
        fake.create(google_person(contact(i)))
    return fake


def _issue(i: int) -> dict[str, Any]:
    return {"title": f"Task {i}", "body": f"What task {i} is about", "labels": [f"area-{i % 5}"]}


def _github(records: int) -> WsgiApp:
    fake = GitHubFake(
        tokens={TOKEN}, clock=SteppingClock(), content_per_minute=10**9, hourly_limit=10**9
    )
    for i in range(records):
        fields = _issue(i)
        fake.create_issue(fields.pop("title"), **fields)
    return fake


_GITHUB_CONFIG = {"owner": "octo-org", "repo": "hello-world"}


def _github_url(url: str) -> str:
    return GitHubAdapter.base_url({**_GITHUB_CONFIG, "base_url": url})


def _slack(records: int) -> WsgiApp:
    fake = SlackFake(token=TOKEN, clock=SteppingClock(), tier2_per_minute=10**9)
    for i in range(records):
        row = contact(i)
        fake.add_user(
            {"first_name": row["firstname"], "last_name": row["lastname"], "email": row["email"]}
        )
    return fake


def _client(base_url: str) -> httpx.Client:
    # A fake holding 100,000 records can take longer than httpx's 5 s default to answer a
    # page on a shared machine (the Notion fake sorts every page it serves).
    return httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": NOTION_VERSION},
        timeout=120.0,
    )


def _sandbox_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count, params = 0, {"limit": page_size}
    while True:
        body = parse(client.get("/v1/objects/contacts", params=params))
        count += len(body["results"])
        if body["paging"] is None:
            return count
        params = {"limit": page_size, **body["paging"]["next"]}


def _hubspot_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count = 0
    properties = mapped_properties(HUBSPOT_MAPPINGS["contact"])
    for archived in ("false", "true"):  # the adapter's listing ends with the archived pass
        params: dict[str, Any] = {"limit": page_size, "properties": properties}
        if archived == "true":
            params["archived"] = "true"
        while True:
            body = parse(client.get("/crm/v3/objects/contacts", params=params))
            count += len(body["results"]) if archived == "false" else 0
            after = body.get("paging", {}).get("next", {}).get("after")
            if after is None:
                break
            params = {**params, "after": after}
    return count


def _salesforce_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    mapping = SALESFORCE_MAPPINGS["contact"]
    soql = soql_listing(mapping.provider_object, source_fields(mapping), None)
    headers = {"Sforce-Query-Options": f"batchSize={page_size}"}
    body = parse(client.get(f"{DATA_PATH}/queryAll", params={"q": soql}, headers=headers))
    count = len(body["records"])
    while "nextRecordsUrl" in body:
        body = parse(client.get(body["nextRecordsUrl"], headers=headers))
        count += len(body["records"])
    return count


def _salesforce_bare_write(client: httpx.Client, n: int, offset: int) -> int:
    """A create, then the read that answers its version (as the adapter does)."""
    path = f"{DATA_PATH}/sobjects/Contact"
    for i in range(n):
        response = client.post(path, json=salesforce_contact(offset + i))
        response.raise_for_status()
        client.get(f"{path}/{response.json()['id']}").json()
    return n


def _notion_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count, body = 0, {"sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]}
    while True:
        answer = parse(
            client.post(
                f"/v1/databases/{CONTACTS_DATABASE}/query", json={**body, "page_size": page_size}
            )
        )
        count += len(answer["results"])
        if not answer["has_more"]:
            return count
        body = {**body, "start_cursor": answer["next_cursor"]}


def _google_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count = 0
    params: dict[str, Any] = {
        "personFields": PERSON_FIELDS,
        "requestSyncToken": "true",
        "pageSize": page_size,
    }
    while True:
        answer = parse(client.get("/v1/people/me/connections", params=params))
        count += len(answer.get("connections", []))
        if "nextPageToken" not in answer:
            return count
        params = {**params, "pageToken": answer["nextPageToken"]}


def _github_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count = 0
    url = f"{_github_url(str(client.base_url))}/issues"
    params: dict[str, Any] | None = {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": page_size,
    }
    while True:
        response = client.get(url, params=params)
        count += sum(1 for row in parse(response) if "pull_request" not in row)
        url = response.links.get("next", {}).get("url", "")
        if not url:
            return count
        params = None


def _slack_bare_read(client: httpx.Client, page_size: int, parse: Parse) -> int:
    count, cursor = 0, ""
    while True:
        params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = parse(client.get("/api/users.list", params=params))
        count += sum(1 for user in body["members"] if not user["is_bot"])
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            return count


def _bare_write(
    path: str, extra: dict[str, Any], shape: Callable[[int], dict[str, Any]] | None = None
) -> Callable[[httpx.Client, int, int], int]:
    """Creates by POST; `shape(i)`: the body's fields for record i (default: a contact's
    `properties`)."""

    def write(client: httpx.Client, n: int, offset: int) -> int:
        for i in range(n):
            values = {"properties": contact(offset + i)} if shape is None else shape(offset + i)
            response = client.post(path, json={**extra, **values})
            response.raise_for_status()
            response.json()
        return n

    return write


@dataclass(frozen=True)
class Kit:
    """One adapter, its fake, and the bare loop that makes the same requests."""

    name: str
    fake: Callable[[int], WsgiApp]
    adapter: Callable[[str], IntegrationAdapter]
    bare_read: Callable[[httpx.Client, int, Parse], int]
    bare_write: Callable[[httpx.Client, int, int], int] | None
    max_page: int
    _: KW_ONLY
    entity_type: str = "contact"
    sample: Callable[[int], dict[str, Any]] = contact  # record i, as the provider's


KITS = (
    Kit(
        "sandbox",
        _sandbox,
        lambda url: SandboxAdapter(sandbox_connection("bench", url), client=_client(url)),
        _sandbox_bare_read,
        _bare_write("/v1/objects/contacts", {}),
        200,
    ),
    Kit(
        "hubspot",
        _hubspot,
        lambda url: HubSpotAdapter(
            Connection(id="bench", tenant_id="t", system="hubspot", config={"base_url": url}),
            client=_client(url),
        ),
        _hubspot_bare_read,
        _bare_write("/crm/v3/objects/contacts", {"associations": []}),
        100,
    ),
    Kit(
        "salesforce",
        _salesforce,
        lambda url: SalesforceAdapter(
            Connection(
                id="bench", tenant_id="t", system="salesforce", config={"instance_url": url}
            ),
            client=_client(url),
        ),
        _salesforce_bare_read,
        _salesforce_bare_write,
        2000,
        sample=salesforce_contact,
    ),
    Kit(
        "notion",
        _notion,
        lambda url: NotionAdapter(
            Connection(
                id="bench",
                tenant_id="t",
                system="notion",
                config={"base_url": url, "databases": {"contact": CONTACTS_DATABASE}},
            ),
            client=_client(url),
        ),
        _notion_bare_read,
        _bare_write(
            "/v1/pages",
            {"parent": {"database_id": CONTACTS_DATABASE}},
            lambda i: {"properties": notion_contact(contact(i))},
        ),
        100,
        sample=lambda i: notion_contact(contact(i)),
    ),
    Kit(
        "google",
        _google,
        lambda url: GooglePeopleAdapter(
            Connection(id="bench", tenant_id="t", system="google", config={"base_url": url}),
            client=_client(url),
        ),
        _google_bare_read,
        _bare_write(
            f"/v1/people:createContact?personFields={PERSON_FIELDS}",
            {},
            lambda i: google_person(contact(i)),
        ),
        1000,
        sample=lambda i: google_person(contact(i)),
    ),
    Kit(
        "github",
        _github,
        lambda url: GitHubAdapter(
            Connection(
                id="bench",
                tenant_id="t",
                system="github",
                config={**_GITHUB_CONFIG, "base_url": url},
            ),
            client=_client(_github_url(url)),
        ),
        _github_bare_read,
        _bare_write(
            f"/repos/{_GITHUB_CONFIG['owner']}/{_GITHUB_CONFIG['repo']}/issues", {}, _issue
        ),
        100,
        entity_type="task",
        sample=_issue,
    ),
    Kit(
        "slack",
        _slack,
        lambda url: SlackAdapter(
            Connection(id="bench", tenant_id="t", system="slack", config={"base_url": url}),
            client=_client(f"{url}/api"),
        ),
        _slack_bare_read,
        None,
        200,
    ),
)


def _serve(make: Callable[[int], WsgiApp], records: int, pipe: Pipe) -> None:
    with SandboxServer(make(records)) as server:
        pipe.send(server.base_url)
        pipe.recv()  # until the parent is done


class Fake:
    """A provider fake with `records` contacts in a (forked) child process, on loopback."""

    def __init__(self, make: Callable[[int], WsgiApp], records: int) -> None:
        context = multiprocessing.get_context("fork")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(make, records, child), daemon=True)

    def __enter__(self) -> str:
        self._process.start()
        url: str = self._pipe.recv()
        return url

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("done")
        self._process.join(timeout=10)


def toolkit_read(adapter: IntegrationAdapter, page_size: int, entity_type: str) -> int:
    count, cursor = 0, None
    while True:
        page = adapter.read_changes(entity_type, cursor, page_size=page_size)
        count += len(page.changes)
        cursor = page.cursor
        if not page.has_more:
            return count


def toolkit_write(adapter: IntegrationAdapter, kit: Kit, n: int, offset: int) -> int:
    for i in range(n):
        adapter.write(kit.entity_type, None, kit.sample(offset + i))
    return n


def _measure(fn: Callable[[], int]) -> tuple[int, float, float]:
    """(records, wall seconds, this process's CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    return n, time.perf_counter() - wall, time.process_time() - cpu


def _compare(contenders: dict[str, Callable[[int], int]], rounds: int) -> dict[str, Any]:
    """Interleaved rounds, each from a collected heap (none pays for an earlier round's
    garbage). CPU per record: each contender's best round. Overheads: the median over
    rounds of the toolkit's CPU over the baseline's in the same round; the two ran seconds
    apart, so a slow spell of the shared machine slows both, where best-of-each would pair
    rounds from different spells."""
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():  # one round unmeasured: connections, caches, specialisation
        fn(rounds)
    for k in range(rounds):
        for name, fn in contenders.items():
            gc.collect()
            n, seconds, cpu_seconds = _measure(lambda fn=fn, k=k: fn(k))
            wall[name].append(seconds / n)
            cpu[name].append(cpu_seconds / n)

    def overhead(baseline: str) -> float:
        ratios = [t / b - 1 for t, b in zip(cpu["toolkit"], cpu[baseline], strict=True)]
        return round(statistics.median(ratios) * 100, 1)

    per_record: dict[str, float] = {name: round(min(v) * 1e6, 1) for name, v in cpu.items()}
    figures: dict[str, Any] = {
        "per_s": round(1 / min(wall["toolkit"]), 1),
        "bare_per_s": round(1 / min(wall["bare"]), 1),
        "cpu_us_per_record": {**per_record, "overhead_pct": overhead("bare")},
    }
    if "bare_orjson" in cpu:
        figures["cpu_us_per_record"]["overhead_vs_orjson_pct"] = overhead("bare_orjson")
    return figures


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench(kit: Kit, args: argparse.Namespace) -> dict[str, Any]:
    size = min(args.page_size, kit.max_page)
    # Clients are made before timing: both sides then pay for requests, not TLS set-up.
    n = args.writes
    with (
        Fake(kit.fake, args.speed_records) as url,
        kit.adapter(url) as adapter,
        _client(url) as client,
    ):
        reads = _compare(
            {
                "toolkit": lambda k: toolkit_read(adapter, size, kit.entity_type),
                "bare": lambda k: kit.bare_read(client, size, _stdlib_json),
                "bare_orjson": lambda k: kit.bare_read(client, size, _orjson),
            },
            args.rounds,
        )
        # New records for each side and round (emails are unique in HubSpot).
        base = args.speed_records
        bare_write = kit.bare_write
        writes = (
            None
            if bare_write is None
            else _compare(
                {
                    "toolkit": lambda k: toolkit_write(adapter, kit, n, base + 2 * k * n),
                    "bare": lambda k: bare_write(client, n, base + 2 * k * n + n),
                },
                args.rounds,
            )
        )
    rss: dict[str, float] = {"start": _peak_rss_mb()}
    for records in (int(s) for s in args.sizes.split(",")):
        with Fake(kit.fake, records) as url, kit.adapter(url) as adapter:
            read = toolkit_read(adapter, size, kit.entity_type)
        assert read == records, f"{kit.name}: read {read} of {records}"
        rss[str(records)] = _peak_rss_mb()
    return {"read": reads, "write": writes, "peak_rss_mb": rss, "page_size": size}


def main(argv: list[str] | None = None) -> None:
    gc.freeze()  # as function_app does once it is imported: what the host keeps is not scanned
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapters", default=",".join(k.name for k in KITS))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--speed-records", type=int, default=5000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--pushes", type=int, default=1000, help="0: skip")
    args = parser.parse_args(argv)
    chosen = [name for name in args.adapters.split(",") if name]
    figures: dict[str, Any] = {kit.name: bench(kit, args) for kit in KITS if kit.name in chosen}
    if args.pushes:
        figures["pushes"] = pushes(args.pushes, rounds=args.rounds)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
