"""Errors in Svix's two shapes, which the ``svix`` SDK parses into its two exceptions.

* ``{"code": "...", "detail": "..."}`` for 400, 401, 403, 404, 408, 409, 413 (``HttpError``);
* ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` for 422
  (``HTTPValidationError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg
import orjson
import structlog
from aiohttp import web
from pydantic import ValidationError

log = structlog.get_logger()


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, status: int | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "detail": self.detail}


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    status, code = 401, "authentication_failed"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"

    def __init__(self, detail: str = "Entity not found", **kwargs: object):
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]


class Conflict(ApiError):
    status, code = 409, "conflict"


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"


class Unprocessable(ApiError):
    """A 422 with Svix's list-of-errors body."""

    status, code = 422, "validation"

    def __init__(self, errors: Sequence[dict[str, object]]):
        super().__init__("; ".join(str(e["msg"]) for e in errors))
        self.errors = list(errors)

    @classmethod
    def single(cls, loc: Iterable[str | int], msg: str, type_: str = "value_error") -> Unprocessable:
        return cls([{"loc": list(loc), "msg": msg, "type": type_}])

    @classmethod
    def from_pydantic(cls, exc: ValidationError, where: str) -> Unprocessable:
        errors = []
        for err in exc.errors(include_url=False):
            loc = [where, *(str(part) for part in err["loc"])]  # Svix: loc is a list of strings
            msg = err["msg"]
            if loc[1:]:
                msg = f"{'.'.join(str(p) for p in loc[1:])}: {msg}"
            errors.append({"loc": loc, "msg": msg, "type": err["type"]})
        return cls(errors)

    def body(self) -> dict[str, object]:
        return {"detail": self.errors}


def error_response(error: ApiError) -> web.Response:
    return web.Response(body=orjson.dumps(error.body()), status=error.status, content_type="application/json")


_HTTP_CODES = {
    404: ("not_found", "Entity not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Request body is too large"),
}


_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown during a restart
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
    TimeoutError,
)


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every failure leaves as JSON in Svix's shapes; nothing leaks a stack trace."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc)
        if isinstance(exc, RequestTimeout):
            # No keep-alive after a stalled body: aiohttp closes once its lingering time is up.
            response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, detail = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        response = error_response(ApiError(detail, code=code, status=exc.status))
        if "Allow" in exc.headers:  # a 405 says which methods the resource has
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncpg.DataError as exc:
        # SQLSTATE class 22: a value the database cannot store (e.g. a NUL character in text).
        return error_response(
            Unprocessable.single(["body"], f"a value cannot be stored: {exc}", "value_error.data")
        )
    except _UNAVAILABLE as exc:
        # The database is away (restart, failover): a retryable 503, not a bug's 500.
        log.warning("dependency unavailable", path=request.path, error=repr(exc))
        response = error_response(ServiceUnavailable("The database is unavailable; retry shortly"))
        response.headers["Retry-After"] = "1"
        return response
    except Exception:
        log.exception("unhandled error", path=request.path, method=request.method)
        return error_response(ApiError("Internal server error", code="internal_error", status=500))
