"""HubSpot and Salesforce, the demo's in-process fakes, kept in lockstep on an embedded
runtime: for the tests and the benchmark that count the API calls pushes cost.

`writes(system)` counts the calls that wrote records: HubSpot's batch create, update and
upsert calls, and Salesforce's Composite calls that carry a write subrequest (each chunk
of 25 also costs a Composite call that reads the versions written back).
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_core.demo import _connect
from integration_core.demo_systems import DemoSystem, make_system, transports
from integration_core.runtime import Runtime, build_runtime
from tests.harness.embedded import embedded_settings
from tests.harness.flows import Rounds

__all__ = ["CallLog", "CrmPair", "crm_pair", "person"]

_WRITES = frozenset({"POST", "PATCH"})


@dataclass
class CallLog:
    """A WSGI app's calls: every (method, path), and the write calls among them."""

    app: Callable[..., Iterable[bytes]]
    calls: list[tuple[str, str]] = field(default_factory=list)
    writes: Counter[str] = field(default_factory=Counter)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.calls.append((method, path))
        if path.endswith("/composite"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            subrequests = json.loads(body).get("compositeRequest", [])
            if any(sub.get("method") in _WRITES for sub in subrequests):
                self.writes["composite"] += 1
        elif "/batch/" in path and not path.endswith("/batch/read"):
            self.writes[path.rsplit("/", 1)[-1]] += 1
        return self.app(environ, start_response)

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())


@dataclass
class CrmPair:
    rt: Runtime
    hubspot: DemoSystem
    salesforce: DemoSystem
    logs: dict[str, CallLog]
    sync: Rounds  # a scheduler tick, each ten minutes after the last, queues drained


_SYLLABLES = [c + v for c in "klmnprstvwxyzbdfgh" for v in "aeiou"]


def person(i: int, *, domain: str) -> dict[str, str]:
    """A canonical contact unlike any other (names, email and phone all differ enough
    that matching never takes two for one), with every field both CRMs map (HubSpot
    refuses the nulls Salesforce lists)."""
    pick = random.Random(i)  # noqa: S311 (test data, not secrets)
    first = "".join(pick.sample(_SYLLABLES, 3)).capitalize()
    last = "".join(pick.sample(_SYLLABLES, 4)).capitalize()
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}.{i}@{domain}".lower(),
        "title": "Engineer",
        "city": "London",
        "phone": f"+4420{pick.randrange(10**7, 10**8)}",
        "country": "GB",
    }


def crm_pair(workdir: Path, **settings: object) -> CrmPair:
    hubspot, salesforce = make_system("hubspot", "hubspot"), make_system("salesforce", "salesforce")
    logs = {}
    for system in (hubspot, salesforce):
        logs[system.role] = CallLog(system.app)
        system.app = logs[system.role]
    rt = build_runtime(
        embedded_settings(workdir, **settings), transports=transports([hubspot, salesforce])
    )
    _connect(rt, hubspot, ["salesforce"])
    _connect(rt, salesforce, ["hubspot"])
    return CrmPair(rt, hubspot, salesforce, logs, Rounds(rt))
