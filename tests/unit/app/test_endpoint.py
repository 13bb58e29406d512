"""`@endpoint`: what a route returns or raises, as the client sees it."""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any

import azure.functions as func
import pytest
from pydantic import BaseModel

from blueprints.http import HttpProblem, endpoint
from integration_core.errors import (
    AlreadyDecidedError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

pytestmark = pytest.mark.unit


class Greeting(BaseModel):
    name: str


def request(body: bytes = b"", **route_params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST", "http://localhost/api/x", route_params=route_params, body=body, headers={}
    )


def raising(error: Exception) -> Any:
    @endpoint()
    def route() -> None:
        raise error

    return route


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (HttpProblem(418, "short and stout"), 418),
        (NotFoundError("conflicts/c9 not found"), 404),
        (ConflictError("exists"), 409),
        (AlreadyDecidedError("decided", decision={"winner": "hub"}), 409),
        (PermanentError("never"), 422),
        (RetryableError("later", retry_after=2.5), 503),
        (ConfigurationError("KEY_VAULT_URL=secret-value"), 500),
        (KeyError("secret-value"), 500),
    ],
)
def test_each_error_is_a_problem_detail(error: Exception, status: int) -> None:
    response = raising(error)(request())
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = json.loads(response.get_body())
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    if status == 500:
        assert "secret-value" not in response.get_body().decode()
    if isinstance(error, AlreadyDecidedError):
        assert body["decision"] == {"winner": "hub"}
    if isinstance(error, RetryableError):
        assert response.headers["Retry-After"] == "3"


def test_a_route_gets_checked_ids_the_validated_body_and_the_request_if_it_asks() -> None:
    @endpoint(body=Greeting)
    def greet(req: func.HttpRequest, who: str, body: Greeting) -> dict[str, str]:
        return {"who": who, "name": body.name, "method": req.method}

    response = greet(request(b'{"name": "Ada"}', who="t-1"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == {"who": "t-1", "name": "Ada", "method": "POST"}


def test_the_wrapped_route_has_the_signature_the_functions_worker_binds() -> None:
    @endpoint(body=Greeting)
    def greet(who: str, body: Greeting) -> str:
        return who

    assert list(inspect.signature(greet).parameters) == ["req"]
    assert typing.get_type_hints(greet) == {"req": func.HttpRequest, "return": func.HttpResponse}
    assert greet.__name__ == "greet"


def test_the_body_cap_applies_to_routes_without_a_model() -> None:
    @endpoint(max_body_bytes=10)
    def route() -> str:
        return "ok"

    assert route(request(b"x" * 10)).status_code == 200
    assert route(request(b"x" * 11)).status_code == 413
