"""No HTTP function answers 5xx to anything a client can send.

Every HTTP function the app registers is driven through the test host with generated
route parameters (real ids and odd ones), headers and bodies (deep nesting, huge strings,
invalid UTF-8, wrong types, near-valid requests) on the embedded stack, with a conflict
and a duplicate waiting so that valid-looking requests reach the pipelines too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blueprints.http import MAX_BODY_BYTES
from integration_core.models import DuplicateCandidate
from integration_core.pipelines.decisions import DECIDED_BY_MAX_LENGTH
from tests.harness.decisions import TENANT, seed_conflict, seed_duplicate
from tests.harness.function_host import FunctionHost, Registration, embedded_app_settings

pytestmark = pytest.mark.unit

EXAMPLES = 150
# Ids of what the host is seeded with, so that some requests find something to decide.
REAL_IDS = [TENANT, "c1", "e1", DuplicateCandidate.make_id("held", "existing")]

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


_BODIES = st.one_of(
    st.binary(max_size=300),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "winner": st.sampled_from(["hub", "incoming"]) | _JSON,
            "same": st.booleans() | _JSON,
            "decided_by": st.text(max_size=DECIDED_BY_MAX_LENGTH + 5) | _JSON,
        },
    ).map(lambda value: json.dumps(value).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(_nested),
    st.sampled_from([MAX_BODY_BYTES - 64, MAX_BODY_BYTES + 1, 3_000_000]).map(
        lambda n: json.dumps({"winner": "hub", "same": True, "decided_by": "x" * n}).encode()
    ),
)
_ODD_IDS = st.text(min_size=1, max_size=300).filter(lambda s: "/" not in s.strip("/")) | (
    st.sampled_from(["..", ".", "x" * 256, "%2e%2e", "a?b", "t1#", " t1", "t1\x00", "nope"])
)
_HEADERS = st.dictionaries(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
    st.text(max_size=200),
    max_size=5,
) | st.just({"Content-Type": "application/json", "Content-Length": "99999999999"})


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionHost]:
    host = FunctionHost(
        embedded_app_settings(tmp_path_factory.mktemp("fuzz")), inline_queue=True, tenant=TENANT
    )
    rt = host.runtime()
    seed_conflict(rt)
    seed_duplicate(rt)
    yield host
    rt.close()


def _path(registration: Registration, params: dict[str, str]) -> str:
    return "/api/" + re.sub(
        r"\{(\w+)\}", lambda m: params[m.group(1)], registration.binding["route"]
    )


def _methods(registration: Registration) -> list[str]:
    return [str(getattr(m, "value", m)).upper() for m in registration.binding["methods"]]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_http_function_answers_5xx_to_any_request(host: FunctionHost, data: Any) -> None:
    names = sorted(n for n, r in host.functions.items() if r.trigger_type == "httpTrigger")
    registration = host.functions[data.draw(st.sampled_from(names), label="function")]
    params = {
        name: data.draw(st.sampled_from(REAL_IDS) | _ODD_IDS, label=name)
        for name in re.findall(r"\{(\w+)\}", registration.binding["route"])
    }
    response = host.http(
        data.draw(st.sampled_from(_methods(registration)), label="method"),
        _path(registration, params),
        body=data.draw(_BODIES, label="body"),
        headers=data.draw(_HEADERS, label="headers"),
    )
    assert response.status_code < 500, response.get_body()[:300]
