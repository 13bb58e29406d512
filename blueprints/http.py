"""How an HTTP function is written: `@endpoint(...)` right under `@app.route(...)`.

The decorator does, the same way for every route, what each used to repeat by hand:
- route parameters are untrusted: each must look like an id (`ROUTE_ID`), else 400;
- the body is capped (413 over `max_body_bytes`) and, when the route names a pydantic
  model, decoded and validated by it (400 for any decode or validation error: deep
  nesting, invalid UTF-8, wrong types, strings over their bound), never echoing the input;
- Lockstep's errors become RFC 9457 problem details (`application/problem+json` with
  type, title, status, detail): not found 404, conflict 409 (with the decision that won,
  when one did), permanent 422, retryable 503 with Retry-After, anything else 500 with
  nothing of the error in the body;
- whatever the route returns is sent as JSON with `status` (204: no body), an
  HttpResponse as it is.

What it knows of a route (body, query, auth, the `response` type, `status` and the
`media_type` of a success, when not JSON) is kept in `ROUTE_DOCS` under the handler, from
which the OpenAPI document is generated.

With `auth=`, the request must carry `Authorization: Bearer <Lockstep API key>`; `auth`
turns the key into the caller (an `ApiKey`, whose tenant scopes every call) or refuses it,
and a missing or refused key is a 401 that does not say why. With `query=`, the query
string is validated by that model like a body.

The route gets its route parameters as keyword arguments, `body` (the validated model)
when it names one, `query` when it names one, `caller` with `auth=`, and `req` (the
request) if it has a parameter of that name.

Like function_app.py, this module has no `from __future__ import annotations`: the
Functions worker reads the handler's annotations as real types to bind the request.
"""

import http
import inspect
import json
import logging
import math
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError

from integration_core.admin import ApiKey, ApiKeyRefusedError
from integration_core.errors import (
    AlreadyDecidedError,
    ConflictError,
    InvalidIdError,
    NotFoundError,
    PermanentError,
    RetryableError,
)

__all__ = [
    "MAX_BODY_BYTES",
    "ROUTE_DOCS",
    "RouteDoc",
    "ROUTE_ID",
    "HttpProblem",
    "endpoint",
    "json_response",
    "problem_response",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Letters, digits and `. _ : @ -`, starting with a letter or digit, at most 255 characters
# (Cosmos DB's id limit): nothing that can name another resource in a store's URL.
ROUTE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}")
PROBLEM_JSON = "application/problem+json"

Route = Callable[..., object]
Handler = Callable[[func.HttpRequest], func.HttpResponse]
Authenticate = Callable[[str], ApiKey]


@dataclass(frozen=True)
class RouteDoc:
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    auth: bool
    response: Any
    status: int
    summary: str
    media_type: str = "application/json"


ROUTE_DOCS: weakref.WeakKeyDictionary[Handler, RouteDoc] = weakref.WeakKeyDictionary()


class HttpProblem(Exception):
    """An answer other than success, as a problem detail; `extensions` are extra members."""

    def __init__(self, status: int, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extensions = extensions


def json_response(
    body: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers, mimetype="application/json"
    )


def problem_response(
    problem: HttpProblem, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    body = {
        "type": "about:blank",
        "title": http.HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    return func.HttpResponse(
        json.dumps(body), status_code=problem.status, headers=headers, mimetype=PROBLEM_JSON
    )


def endpoint(
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    auth: Authenticate | None = None,
    response: Any = None,
    status: int = 200,
    max_body_bytes: int = MAX_BODY_BYTES,
    media_type: str = "application/json",
) -> Callable[[Route], Handler]:
    """Wrap a route: the caller's key, checked ids, a capped and validated body and query,
    errors as problem details.
    """

    def decorate(route: Route) -> Handler:
        wants_request = "req" in inspect.signature(route).parameters

        def handler(req: func.HttpRequest) -> func.HttpResponse:
            try:
                arguments: dict[str, Any] = {}
                if auth is not None:
                    arguments["caller"] = _caller(auth, req.headers.get("Authorization"))
                arguments |= _route_ids(req.route_params)
                raw = req.get_body() or b""
                if len(raw) > max_body_bytes:
                    raise HttpProblem(413, f"the body is over {max_body_bytes} bytes")
                if body is not None:
                    arguments["body"] = _parse(body, raw)
                if query is not None:
                    arguments["query"] = _validated(query, dict(req.params), "the query")
                if wants_request:
                    arguments["req"] = req
                result = route(**arguments)
                if isinstance(result, func.HttpResponse):
                    return result
                if status == 204:
                    return func.HttpResponse(status_code=204)
                return json_response(result, status)
            except Exception as err:  # every failure becomes a problem detail, none a bare 500
                return _answer(err, route.__name__)

        handler.__name__ = route.__name__
        handler.__qualname__ = route.__qualname__
        handler.__doc__ = route.__doc__
        summary = (route.__doc__ or route.__name__.replace("_", " ")).strip().split("\n")[0]
        ROUTE_DOCS[handler] = RouteDoc(
            body, query, auth is not None, response, status, summary, media_type
        )
        return handler

    return decorate


def _route_ids(params: Mapping[str, str]) -> dict[str, Any]:
    for name, value in params.items():
        if not ROUTE_ID.fullmatch(value):
            raise HttpProblem(
                400,
                f"{name} must be 1 to 255 letters, digits or '._:@-',"
                " starting with a letter or digit",
            )
    return dict(params)


def _caller(auth: Authenticate, header: str | None) -> ApiKey:
    scheme, _, presented = (header or "").partition(" ")
    refused = HttpProblem(401, "a valid Lockstep API key is required (Authorization: Bearer)")
    if scheme.lower() != "bearer" or not presented.strip():
        raise refused
    try:
        return auth(presented.strip())
    except ApiKeyRefusedError:
        raise refused from None


def _parse(model: type[BaseModel], raw: bytes) -> BaseModel:
    """pydantic's own JSON parser: invalid UTF-8, nesting past its recursion limit and
    numbers out of range are validation errors like any other, not Python exceptions.
    """
    return _validated(model, raw, "the body")


def _validated(model: type[BaseModel], data: bytes | dict[str, str], what: str) -> BaseModel:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as err:
        errors = [
            {"location": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
            for e in err.errors(include_input=False, include_url=False, include_context=False)
        ]
        raise HttpProblem(400, f"{what} is not a valid request", errors=errors) from None


def _answer(err: Exception, name: str) -> func.HttpResponse:
    """The problem detail for an error a route raised."""
    if isinstance(err, HttpProblem):
        bearer = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
        return problem_response(err, headers=bearer)
    if isinstance(err, InvalidIdError):
        return problem_response(HttpProblem(400, str(err)))
    if isinstance(err, AlreadyDecidedError):
        return problem_response(HttpProblem(409, str(err), decision=err.decision))
    if isinstance(err, NotFoundError):
        return problem_response(HttpProblem(404, str(err)))
    if isinstance(err, ConflictError):
        return problem_response(HttpProblem(409, str(err)))
    if isinstance(err, PermanentError):
        return problem_response(HttpProblem(422, str(err)))
    if isinstance(err, RetryableError):
        retry_after = max(1, math.ceil(err.retry_after or 1))
        return problem_response(
            HttpProblem(503, "try again later"), headers={"Retry-After": str(retry_after)}
        )
    log.error("%s failed", name, exc_info=err)
    return problem_response(HttpProblem(500, "the request failed; see the function's log"))
