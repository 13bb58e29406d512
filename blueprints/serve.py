"""`lockstep serve`: the function app on one machine, without Azure Functions Core Tools.

It runs the app from its own registrations (`function_app.app.get_functions()`), as the
Functions host would:
- HTTP functions under /api/<route> on waitress (a production WSGI server), each request
  an `func.HttpRequest` with its route parameters, query and body;
- the timers on their NCRONTAB schedules (six fields, seconds first), read from the app
  settings they name (`%SYNC_SCHEDULE%`);
- the queue workers: the queues are drained continuously by the same handlers.

Backends: embedded by default (SQLite file and local secrets under .lockstep/, the
in-process queue, no Redis); `stack="local"` keeps the app settings as the environment and
local.settings.sample.json give them (Azurite, the Cosmos emulator, Redis).

Ctrl-C (SIGINT) or SIGTERM stops taking requests, lets the timer or drain in progress
finish (nothing is left half-written), closes the backends and returns.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any
from urllib.parse import parse_qsl, unquote

import azure.functions as func
from azure.functions.timer import TimerRequest
from croniter import croniter
from waitress.server import create_server

from blueprints.http import HttpProblem, problem_response
from integration_core.localstack import Stack, apply_local_settings
from integration_core.pipelines.drain import drain_queues
from integration_core.runtime import Runtime
from integration_core.settings import QueueBackend

__all__ = ["FunctionsWsgi", "HttpRoute", "Stack", "serve"]

log = logging.getLogger(__name__)

PREFIX = "/api/"
# The webhook receiver accepts up to 25 MB; a little more for headers' sake, then 413.
MAX_REQUEST_BYTES = 26 * 1024 * 1024
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class HttpRoute:
    name: str
    pattern: re.Pattern[str]
    methods: frozenset[str]
    handler: Callable[[func.HttpRequest], func.HttpResponse]

    @classmethod
    def of(cls, name: str, route: str, methods: Iterable[str], handler: Any) -> HttpRoute:
        segments = [
            f"(?P<{s[1:-1]}>[^/]+)" if s.startswith("{") and s.endswith("}") else re.escape(s)
            for s in route.strip("/").split("/")
        ]
        return cls(name, re.compile("/".join(segments)), frozenset(methods), handler)


class FunctionsWsgi:
    """A WSGI application that dispatches to the app's HTTP functions by route and method."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self.routes = list(routes)

    def __call__(self, environ: Mapping[str, Any], start_response: StartResponse) -> list[bytes]:
        response = self._respond(environ)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-type"]
        headers.append(("Content-Type", response.mimetype or "application/octet-stream"))
        status = f"{response.status_code} {_phrase(response.status_code)}"
        start_response(status, headers)
        return [response.get_body()]

    def _respond(self, environ: Mapping[str, Any]) -> func.HttpResponse:
        path: str = environ.get("PATH_INFO", "")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if not path.startswith(PREFIX):
            return problem_response(HttpProblem(404, "no function answers here"))
        matched = [
            (route, match)
            for route in self.routes
            if (match := route.pattern.fullmatch(path.removeprefix(PREFIX))) is not None
        ]
        if not matched:
            return problem_response(HttpProblem(404, "no function answers here"))
        chosen = next(((r, m) for r, m in matched if method in r.methods), None)
        if chosen is None:
            allowed = ", ".join(sorted({m for r, _ in matched for m in r.methods}))
            return problem_response(
                HttpProblem(405, f"allowed: {allowed}"), headers={"Allow": allowed}
            )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BYTES:
            return problem_response(HttpProblem(413, f"the body is over {MAX_REQUEST_BYTES} bytes"))
        body = environ["wsgi.input"].read(length) if length else b""
        route, match = chosen
        request = func.HttpRequest(
            method,
            f"http://{environ.get('HTTP_HOST', 'localhost')}{path}",
            headers=dict(_headers(environ)),
            params=dict(parse_qsl(str(environ.get("QUERY_STRING", "")))),
            route_params={k: unquote(v) for k, v in match.groupdict().items()},
            body=body,
        )
        return route.handler(request)


def _headers(environ: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            yield key[5:].replace("_", "-").title(), str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            yield key.replace("_", "-").title(), str(environ[key])


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass
class Timer:
    name: str
    schedule: str
    handler: Callable[..., Any]
    arg_name: str
    due: datetime

    def fire_if_due(self, now: datetime) -> None:
        if now < self.due:
            return
        try:
            self.handler(**{self.arg_name: TimerRequest(past_due=False)})
        except Exception:  # like the Functions host: a failed run is logged, the next one runs
            log.exception("timer %s failed", self.name)
        self.due = croniter(self.schedule, now, second_at_beginning=True).get_next(datetime)


def load_app(stack: Stack, workdir: Path) -> ModuleType:
    """function_app as the host would import it, its runtime on the in-process queue when
    embedded (the app itself refuses that backend, since no host trigger could read it).
    """
    apply_local_settings(stack, workdir)
    if stack == "embedded":  # registered as on Azure; the runtime is switched below
        os.environ["QUEUE_BACKEND"] = QueueBackend.STORAGE.value
    module = importlib.import_module("function_app")
    if stack == "embedded":
        settings = module.SETTINGS
        vars(module)["SETTINGS"] = settings.model_copy(
            update={"queue_backend": QueueBackend.INLINE}
        )
    return module


def registrations(module: ModuleType) -> tuple[list[HttpRoute], list[Timer]]:
    routes: list[HttpRoute] = []
    timers: list[Timer] = []
    now = datetime.now(UTC)
    for function in module.app.get_functions():
        binding = function.get_trigger().get_dict_repr()
        name = function.get_function_name()
        handler = function.get_user_function()
        if binding["type"] == "httpTrigger":
            methods = [str(getattr(m, "value", m)).upper() for m in binding["methods"]]
            routes.append(HttpRoute.of(name, binding["route"], methods, handler))
        elif binding["type"] == "timerTrigger":
            schedule = re.sub(r"%([^%]+)%", lambda m: os.environ[m.group(1)], binding["schedule"])
            due = croniter(schedule, now, second_at_beginning=True).get_next(datetime)
            timers.append(Timer(name, schedule, handler, binding["name"], due))
    return routes, timers


def _background(rt: Runtime, timers: list[Timer], stop: threading.Event) -> None:
    """Timers and queue drains, one at a time, until `stop`; the one running finishes."""
    while not stop.is_set():
        for timer in timers:
            timer.fire_if_due(datetime.now(UTC))
        try:
            drain_queues(rt)
        except Exception:  # a backend hiccup must not stop the workers; the next pass retries
            log.exception("draining the queues failed")
        stop.wait(0.2)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 7071,
    stack: Stack = "embedded",
    workdir: Path = Path(".lockstep"),
    ready: Callable[[str], None] = print,
) -> int:
    """Serve until SIGINT or SIGTERM; `ready` gets the base URL once requests are taken."""
    module = load_app(stack, workdir)
    routes, timers = registrations(module)
    rt: Runtime = module.runtime()
    server = create_server(FunctionsWsgi(routes), host=host, port=port, threads=8)
    stop = threading.Event()
    worker = threading.Thread(target=_background, args=(rt, timers, stop), name="lockstep-bg")

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT raises KeyboardInterrupt in this thread; waitress's loop stops on it and waits
    # for the requests in progress. SIGTERM is made to do the same.
    previous = signal.signal(signal.SIGTERM, interrupt)
    worker.start()
    try:
        ready(f"http://{host}:{server.effective_port}/api")
        server.run()
    finally:
        stop.set()
        worker.join()
        server.close()
        rt.close()
        signal.signal(signal.SIGTERM, previous)
        log.info("stopped")
    return 0
