"""Typed routes: one declaration gives the aiohttp route, request parsing and OpenAPI.

A handler is ``async def handler(request, *, body=None, query=None)``; ``body`` and
``query`` arrive as validated pydantic models and a failure becomes a Svix-shaped 400
(not JSON) or 422 (schema). The return value (a model, a list or a dict) is sent as
JSON with the declared status; a ``web.StreamResponse`` is passed through.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from shared.web.body import BodyTimedOut, BodyTooLarge, read_body
from shared.web.errors import BadRequest, PayloadTooLarge, RequestTimeout, Unprocessable
from shared.web.responses import json_response

Handler = Callable[..., Awaitable[Any]]


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    summary: str = ""
    tag: str = ""
    public: bool = False
    headers: list[str] = field(default_factory=list)
    # The handler stores idempotent responses itself (in its own transaction).
    own_idempotency: bool = False
    # Other success statuses the handler may answer with the same body (an upsert's 201).
    also: tuple[int, ...] = ()
    # Public to the API token's check, but the handler checks a bearer token of its own
    # (the app portal's logout): its 401 and bearer security are documented all the same.
    own_auth: bool = False


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, set, tuple):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


async def parse_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        raw = await read_body(request, request.client_max_size)
    except BodyTooLarge as exc:
        raise PayloadTooLarge(f"Request body is too large: {exc}") from exc
    except BodyTimedOut as exc:
        raise RequestTimeout(f"Request body too slow: {exc}") from exc
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(data, dict):
        raise Unprocessable.single(["body"], "the request body must be a JSON object", "type_error")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable.from_pydantic(exc, "body") from exc


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        values = request.query.getall(key, []) or request.query.getall(f"{key}[]", [])
        if not values:
            continue
        if _is_list(info.annotation):
            data[key] = [part for v in values for part in v.split(",") if part]
        else:
            data[key] = values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable.from_pydantic(exc, "query") from exc


class ApiRoutes:
    def __init__(self) -> None:
        self.specs: list[RouteSpec] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(RouteSpec(method.upper(), path, handler, **options))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, status=204, **options)

    def extend(self, other: ApiRoutes) -> None:
        self.specs.extend(other.specs)

    def install(self, app: web.Application) -> None:
        for spec in self.specs:
            app.router.add_route(spec.method, spec.path, _wrap(spec), name=_operation_id(spec))

    @staticmethod
    def spec_of(request: web.Request) -> RouteSpec | None:
        return getattr(request.match_info.route.handler, "hookline_spec", None)

    @classmethod
    def is_public(cls, request: web.Request) -> bool:
        spec = cls.spec_of(request)
        return spec is not None and spec.public


def _wrap(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, Any] = {}
        if spec.body is not None:
            kwargs["body"] = await parse_body(request, spec.body)
        if spec.query is not None:
            kwargs["query"] = parse_query(request, spec.query)
        result = await spec.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, spec.status)

    handle.hookline_spec = spec  # type: ignore[attr-defined]
    return handle


def _operation_id(spec: RouteSpec) -> str:
    return spec.handler.__name__.replace("_", ".")


_ERROR_SCHEMAS = {
    "HttpError": {
        "type": "object",
        "required": ["code", "detail"],
        "properties": {"code": {"type": "string"}, "detail": {"type": "string"}},
    },
    "HTTPValidationError": {
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["loc", "msg", "type"],
                    "properties": {
                        "loc": {"type": "array", "items": {"type": "string"}},
                        "msg": {"type": "string"},
                        "type": {"type": "string"},
                    },
                },
            }
        },
    },
}


def _error(name: str, description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    """Path parameters, then the query model's fields, then the declared headers."""
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    if spec.query:
        qschema = spec.query.model_json_schema(by_alias=True)
        required = qschema.get("required", [])
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in qschema.get("properties", {}).items()
        ]
    params += [
        {"name": header, "in": "header", "required": False, "schema": {"type": "string"}}
        for header in spec.headers
    ]
    return params


def _responses(spec: RouteSpec, response_ref: dict[str, Any] | None) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if response_ref is not None:
        for status in (spec.status, *spec.also):
            responses[str(status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": response_ref}},
            }
    else:
        responses[str(spec.status)] = {"description": "No content"}
    if not spec.public or spec.own_auth:
        responses["401"] = _error("HttpError", "Missing or invalid token")
    if spec.body or spec.query or "{" in spec.path:
        responses["400"] = _error("HttpError", "Bad request")
        responses["404"] = _error("HttpError", "Not found")
        responses["409"] = _error("HttpError", "Conflict")
        responses["413"] = _error("HttpError", "Payload too large")
        responses["422"] = _error("HTTPValidationError", "Validation error")
    if spec.body:
        responses["408"] = _error("HttpError", "Request body too slow")
    return responses


def _operation(spec: RouteSpec, keys: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(spec),
        "summary": spec.summary or spec.handler.__doc__ or "",
        "tags": [spec.tag] if spec.tag else [],
        "parameters": _parameters(spec),
        "responses": _responses(spec, keys[(spec.response, "serialization")] if spec.response else None),
    }
    if spec.body:
        ref = keys[(spec.body, "validation")]
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    if not spec.public or spec.own_auth:
        op["security"] = [{"HTTPBearer": []}]
    return op


def openapi_document(routes: ApiRoutes, *, title: str, version: str) -> dict[str, Any]:
    """An OpenAPI 3.1 document generated from the route declarations and their models."""
    models: list[tuple[type[BaseModel], str]] = []
    for spec in routes.specs:
        if spec.body:
            models.append((spec.body, "validation"))
        if spec.response:
            models.append((spec.response, "serialization"))
    keys, schema = models_json_schema(models, by_alias=True, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for spec in routes.specs:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, keys)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": {**schema.get("$defs", {}), **_ERROR_SCHEMAS},
            "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer"}},
        },
    }
