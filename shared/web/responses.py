"""JSON responses via orjson; pydantic models are dumped by alias (camelCase)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    return value


def json_response(value: Any, status: int = 200) -> web.Response:
    if status == 204:
        return web.Response(status=204)
    return web.Response(body=orjson.dumps(to_jsonable(value)), status=status, content_type="application/json")
