"""Webhook receiver benchmark: prints ONE JSON line of figures.

The full receive path (`receive_webhook`: rate limit in Redis, registration lookup, secret,
GitHub signature check, inbox write, enqueue, audit row) in one process, on the embedded
store (SQLite in memory) and a Redis-backed limiter (our own redis-server on a free port
when `redis-server` exists, else REDIS_URL / 127.0.0.1:6379; `--url` forces one), side by
side in interleaved rounds with a handler that does one Redis PING and nothing else (the
one-round-trip floor):
- `ping_*`: the PING handler; `inline_*`: the full path with the in-process queue;
  `inline_vs_ping`: the ratio of their rates (goal >= 0.5); `no_redis_*`: the full path
  with the limiter's in-process fallback instead of Redis, i.e. the path's own CPU cost;
- `azurite_*`: the full path sending to Azure Storage queues on Azurite (the local stack's,
  as the tests find it; `--no-azurite` skips it); goal p99 <= 25 ms;
- `http_inline_*` and `http_ping_*`: the same pair as HTTP handlers, sent the same requests,
  served by what `lockstep serve` runs (blueprints/serve.py on waitress) and driven over
  loopback by one httpx client with keep-alive: the full path is the function app's own
  `POST /api/webhooks/{id}` route (inline queue, the same Redis), the ping handler a route
  that does one PING and answers 200; `http_inline_vs_ping` is their ratio (goal >= 0.5).
Each figure is the median over rounds; p50/p99 are per-request latencies in milliseconds.
Every delivery is distinct (its own X-GitHub-Delivery), so none is answered as a duplicate.
`answered_503` counts, per contender, deliveries answered 503 because a backend failed (a
loaded Azurite does, now and then); they stay in the figures. Any other non-2xx stops the run.

    .venv/bin/python bench/webhooks.py [--url redis://…] [--rounds 5] [--requests 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import azure.functions as func
import httpx
import redis
from waitress.server import create_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from blueprints.serve import FunctionsWsgi, HttpRoute, load_app, registrations  # noqa: E402
from integration_core.credentials.local import LocalSecretStore  # noqa: E402
from integration_core.messaging import INBOUND_QUEUE  # noqa: E402
from integration_core.messaging.storage_queue import StorageQueueMessageQueue  # noqa: E402
from integration_core.pipelines.webhook_intake import receive_webhook  # noqa: E402
from integration_core.runtime import Runtime, build_runtime  # noqa: E402
from integration_core.settings import load_settings  # noqa: E402
from integration_core.webhooks.registrations import WebhookRegistrations  # noqa: E402
from tests.conftest import load_local_stack  # noqa: E402
from tests.harness.redis_server import bench_redis  # noqa: E402
from tests.harness.webhooks import github_delivery  # noqa: E402

Request = tuple[dict[str, str], bytes]


def _runtime(directory: Path, url: str | None) -> Runtime:
    settings = load_settings(
        store_backend="sqlite",
        sqlite_path=":memory:",
        queue_backend="inline",
        secret_backend="local",  # noqa: S106 - a backend name
        local_secrets_path=str(directory / "secrets.enc"),
        local_secrets_key=LocalSecretStore.generate_key(),
        redis_url=url,
        ratelimit_timeout_ms=2000,
        webhook_requests_per_minute=1_000_000,
    )
    return build_runtime(settings)


def _requests(secret: str, n: int) -> list[Request]:
    return [github_delivery(secret, {"action": "opened", "n": i}) for i in range(n)]


def _timed(
    handle: Callable[[dict[str, str], bytes], int], requests: list[Request]
) -> tuple[list[float], int]:
    """Every request's latency, and how many were answered 503 (a backend of the path
    failed: the provider would retry). Any other answer but a 2xx means a broken bench."""
    latencies = []
    unavailable = 0
    for headers, body in requests:
        began = time.perf_counter()
        status = handle(headers, body)
        latencies.append(time.perf_counter() - began)
        if status == 503:
            unavailable += 1
        elif status >= 300:
            raise RuntimeError(f"the bench delivery was answered {status}")
    return latencies, unavailable


def _figures(name: str, runs: list[list[float]]) -> dict[str, float]:
    rates = [len(run) / sum(run) for run in runs]
    ordered = [sorted(run) for run in runs]
    return {
        f"{name}_per_s": round(statistics.median(rates)),
        f"{name}_p50_ms": round(statistics.median(r[len(r) // 2] for r in ordered) * 1000, 3),
        f"{name}_p99_ms": round(
            statistics.median(r[int(len(r) * 0.99)] for r in ordered) * 1000, 3
        ),
    }


def _path(rt: Runtime) -> tuple[str, Callable[[dict[str, str], bytes], int]]:
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        "t1", "gh", "github"
    )
    assert secret is not None

    def handle(headers: dict[str, str], body: bytes) -> int:
        return receive_webhook(rt, registration.id, headers=headers, body=body).status

    return secret, handle


@contextlib.contextmanager
def _served(directory: Path, url: str) -> Iterator[tuple[httpx.Client, Runtime]]:
    """The function app's HTTP functions and a PING route on one waitress server, as
    `lockstep serve` runs them (embedded store in memory, inline queue, Redis at `url`);
    yields a keep-alive client for it and the app's runtime."""
    os.environ.update(
        SQLITE_PATH=":memory:",
        REDIS_URL=url,
        RATELIMIT_TIMEOUT_MS="2000",
        WEBHOOK_REQUESTS_PER_MINUTE="1000000",
    )
    module = load_app("embedded", directory / "app")
    routes, _ = registrations(module)
    rt: Runtime = module.runtime()
    ping_client = redis.Redis.from_url(url)

    def ping(req: func.HttpRequest) -> func.HttpResponse:
        ping_client.ping()
        return func.HttpResponse(b"", status_code=200)

    routes.append(HttpRoute.of("BenchPing", "bench/ping", ["POST"], ping))
    server = create_server(FunctionsWsgi(routes), host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, name="bench-waitress", daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.effective_port}") as client:
            yield client, rt
    finally:
        server.close()
        ping_client.close()


def _http_contenders(
    client: httpx.Client, rt: Runtime
) -> dict[str, tuple[str, Callable[[dict[str, str], bytes], int]]]:
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        "t1", "gh-http", "github"
    )
    assert secret is not None
    path = f"/api/webhooks/{registration.id}"

    def full(headers: dict[str, str], body: bytes) -> int:
        return client.post(path, headers=headers, content=body).status_code

    def ping(headers: dict[str, str], body: bytes) -> int:
        # The same request as a delivery: only the handler differs.
        return client.post("/api/bench/ping", headers=headers, content=body).status_code

    return {"http_ping": (secret, ping), "http_inline": (secret, full)}


def _ratio(runs: dict[str, list[list[float]]], name: str, floor: str) -> float:
    """The median over rounds of the rate of `name` over the rate of `floor`."""
    pairs = zip(runs[name], runs[floor], strict=True)
    return round(statistics.median(len(a) / sum(a) / (len(b) / sum(b)) for a, b in pairs), 3)


def run(url: str, rounds: int, n: int, storage: str | None) -> dict[str, object]:
    client = redis.Redis.from_url(url)

    def ping(headers: dict[str, str], body: bytes) -> int:
        client.ping()
        return 200

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as directory, _served(Path(directory), url) as served:
        inline = _runtime(Path(directory), url)
        local = _runtime(Path(directory), None)
        contenders = {"ping": ("", ping), "inline": _path(inline), "no_redis": _path(local)}
        contenders |= _http_contenders(*served)
        runtimes = [inline, local]
        queues = None
        if storage is not None:
            azurite = _runtime(Path(directory), url)
            # Queues of the bench's own (prefixed), deleted afterwards: the stack's
            # sync-inbound is left as it was.
            queues = StorageQueueMessageQueue.from_connection_string(
                storage, queue_prefix=f"bench{uuid.uuid4().hex[:8]}"
            )
            azurite.queue = queues
            contenders["azurite"] = _path(azurite)
            runtimes.append(azurite)
        try:
            for _, (secret, handle) in contenders.items():  # warm up connections and caches
                _timed(handle, _requests(secret or "warm", 200))
            runs: dict[str, list[list[float]]] = {name: [] for name in contenders}
            unavailable = dict.fromkeys(contenders, 0)
            for _ in range(rounds):
                for name, (secret, handle) in contenders.items():
                    latencies, failed = _timed(handle, _requests(secret or "ping", n))
                    runs[name].append(latencies)
                    unavailable[name] += failed
        finally:
            for rt in runtimes:
                rt.close()
            if queues is not None:
                queues.delete_queue(INBOUND_QUEUE)
                queues.close()
        for name, timings in runs.items():
            figures.update(_figures(name, timings))
        figures["inline_vs_ping"] = _ratio(runs, "inline", "ping")
        figures["http_inline_vs_ping"] = _ratio(runs, "http_inline", "http_ping")
        figures["answered_503"] = {name: count for name, count in unavailable.items() if count}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="use this Redis instead of starting one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--no-azurite", action="store_true", help="skip the Azurite queue run")
    args = parser.parse_args()
    storage = None if args.no_azurite else load_local_stack().storage_connection_string
    with bench_redis(args.url) as (url, label):
        figures: dict[str, object] = {"redis": label, "azurite": storage is not None}
        figures.update(run(url, args.rounds, args.requests, storage))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
