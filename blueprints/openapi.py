"""The admin API's OpenAPI 3.1 document, generated from the registered functions and the
pydantic models `@endpoint` names (request body, query, response), served at
/api/admin/openapi.json. JSON Schema 2020-12 is OpenAPI 3.1's own schema language, so
pydantic's schemas are used as they are, their definitions moved to components.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

import azure.functions as func
from pydantic import TypeAdapter

from blueprints._private import api_key_caller
from blueprints.http import ROUTE_DOCS, ROUTE_ID, RouteDoc, endpoint
from integration_core.admin import ApiKey
from integration_core.runtime import Runtime

__all__ = ["blueprint", "build_document"]

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PROBLEMS = {
    "400": "the request is not valid",
    "401": "no valid Lockstep API key",
    "404": "no such resource in the key's tenant",
    "409": "a conflict: it exists, changed meanwhile, or was already decided",
    "413": "the body is too large",
    "422": "valid, but cannot be done as asked",
    "503": "a backend is unavailable; try again later (Retry-After)",
}
# A route answering pages for people (the OAuth callback) answers its failures as pages too.
_PAGE_FAILURES = {
    "400": "the link is not valid, used or expired, or the provider refused the consent",
    "404": "the connection no longer exists",
    "422": "the deployment cannot connect this system with OAuth",
    "502": "the provider refused the authorization code",
    "503": "the provider is not answering; try again later (Retry-After)",
}
# The routes the document describes: the admin API and the OAuth callback.
DOCUMENTED_ROUTES = ("admin/", "connect/")


class _Schemas:
    """Collects pydantic's definitions under components/schemas, one name per mode."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Problem": PROBLEM}

    def of(self, kind: Any, *, mode: str) -> dict[str, Any]:
        suffix = "" if mode == "serialization" else "Input"
        template = "#/components/schemas/{model}" + suffix
        schema = TypeAdapter(kind).json_schema(
            mode=mode,  # type: ignore[arg-type]
            by_alias=True,
            ref_template=template,
        )
        for name, definition in schema.pop("$defs", {}).items():
            self.components[name + suffix] = definition
        return schema


def _operation(name: str, route: str, doc: RouteDoc, schemas: _Schemas) -> dict[str, Any]:
    ids = re.findall(r"\{(\w+)\}", route)
    parameters: list[dict[str, Any]] = [
        {
            "name": i,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": f"^{ROUTE_ID.pattern}$"},
        }
        for i in ids
    ]
    if doc.query is not None:
        query = schemas.of(doc.query, mode="validation")
        for field, schema in query.get("properties", {}).items():
            parameters.append({"name": field, "in": "query", "required": False, "schema": schema})
    success: dict[str, Any] = {"description": "done"}
    if doc.response is not None:
        schema = schemas.of(doc.response, mode="serialization")
        success["content"] = {doc.media_type: {"schema": schema}}
    problems: dict[str, dict[str, Any]] = {
        code: {
            "description": text,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for code, text in _PROBLEMS.items()
        if (code != "401" or doc.auth) and (code != "404" or ids)
    }
    if doc.media_type != "application/json":
        page = {doc.media_type: {"schema": {"type": "string"}}}
        for code, text in _PAGE_FAILURES.items():
            problems.setdefault(code, {"description": text, "content": {}})["content"] |= page
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": doc.summary,
        "parameters": parameters,
        "responses": {str(doc.status): success} | problems,
        "security": [{"functionKey": [], "lockstepKey": []}] if doc.auth else [],
    }
    if doc.body is not None:
        body = schemas.of(doc.body, mode="validation")
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def build_document(functions: Iterable[Any]) -> dict[str, Any]:
    """The document for the admin HTTP functions and the OAuth callback among `functions`
    (app.get_functions())."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for function in functions:
        binding = function.get_trigger().get_dict_repr()
        route = binding.get("route", "")
        doc = ROUTE_DOCS.get(function.get_user_function())
        documented = route.startswith(DOCUMENTED_ROUTES)
        if binding["type"] != "httpTrigger" or not documented or doc is None:
            continue
        for method in binding["methods"]:
            verb = str(getattr(method, "value", method)).lower()
            operation = _operation(function.get_function_name(), route, doc, schemas)
            paths.setdefault(f"/api/{route}", {})[verb] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lockstep admin API",
            "version": "1",
            "description": "Every call is scoped to the tenant of its Lockstep API key.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "lockstepKey": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def blueprint(areas: Iterable[func.Blueprint], runtime: Callable[[], Runtime]) -> func.Blueprint:
    """The document of the functions in `areas`, built on the first request.

    A FunctionApp indexes its functions once (a second `get_functions()` reports every name
    as a duplicate), so the document reads them from a FunctionApp of its own.
    """
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here
    areas = list(areas)

    @functools.cache
    def document() -> dict[str, Any]:
        indexed = func.FunctionApp()
        for area in areas:
            indexed.register_functions(area)
        return build_document(indexed.get_functions())

    caller_of = api_key_caller(runtime)

    @bp.function_name("AdminOpenApi")
    @bp.route(route="admin/openapi.json", methods=["GET"])
    @endpoint(auth=caller_of)
    def admin_openapi(caller: ApiKey) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this API."""
        found: dict[str, Any] = document()
        return found

    return bp
