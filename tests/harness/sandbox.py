"""Builders for sandbox systems in tests: accounts, seeded contacts, adapters over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx

from adapters.sandbox import SandboxAdapter
from adapters.sandbox_server import SandboxAccount, SandboxServer
from integration_core.clock import utcnow
from integration_core.models import Connection

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
# One person, for the matching tests to enter in two systems with variations.
GRACE = {
    "firstname": "Grace",
    "lastname": "Hopper",
    "email": "grace.hopper@example.com",
    "jobtitle": "Rear Admiral",
    "city": "Arlington",
}


class SteppingClock:
    """A clock that moves forward by `step` on every reading: distinct, ordered times."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(milliseconds=1)):
        self.now = start or utcnow()
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def contact(i: int) -> dict[str, str]:
    first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
    return {
        "firstname": first,
        "lastname": f"{last}{i}",
        "email": f"{first}.{last}{i}@example.com".lower(),
        "jobtitle": "Engineer",
        "city": "London",
    }


def seeded_account(name: str, *, contacts: int = 0, api_key: str | None = None) -> SandboxAccount:
    account = SandboxAccount(name=name, api_key=api_key or f"key-{name}", clock=SteppingClock())
    for i in range(contacts):
        account.create("contacts", contact(i))
    return account


def sandbox_connection(
    connection_id: str, base_url: str, *, tenant_id: str = "t1", credential_id: str | None = None
) -> Connection:
    return Connection(
        id=connection_id,
        tenant_id=tenant_id,
        system="sandbox",
        config={"base_url": base_url},
        credential_id=credential_id,
    )


@contextmanager
def served_adapter(account: SandboxAccount) -> Iterator[SandboxAdapter]:
    """An adapter talking real HTTP over loopback to `account`."""
    with SandboxServer(account) as server:
        client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {account.api_key}"}
        )
        with client:
            yield SandboxAdapter(
                sandbox_connection("c-" + account.name, server.base_url), client=client
            )
