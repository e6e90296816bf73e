"""promptver errors -> HTTP responses, in one place: a JSON body {"error": {"type", "message"}}.

Nothing a client sends may produce a 500: input is refused where it is parsed (core/refs.py,
core/limits.py, the specs, the request schemas) and the database's refusals of a value become 422
(storage/reader.py ``data_error``). A record too deeply nested to serialise (stored before the depth
limit existed) is a 422 saying so. What is left is a bug: ``LastResort`` answers it with a JSON 500
and logs one line naming the exception's type and where it was raised, never its message (driver
messages embed SQL parameters).
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import PydanticSerializationError
from starlette.exceptions import HTTPException

from promptver import errors
from promptver.core.limits import MAX_DEPTH
from promptver.server.auth_failures import printable

log = logging.getLogger("promptver.server")

STATUS: list[tuple[type[errors.PromptverError], int]] = [  # first match wins
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.LabelConflict, 409),
    (errors.ReleaseGateFailed, 409),
    (errors.UsageError, 422),
    (errors.RegistryUnavailable, 503),
    (errors.RegistryBusy, 503),
    (errors.SchemaMismatch, 503),
    (errors.GuardMissing, 503),
    (errors.PromptverError, 500),
]


def body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


def status_of(exc: errors.PromptverError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.PromptverError)
    async def promptver_error(_: Request, exc: errors.PromptverError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, errors.Unauthorized) else None
        return JSONResponse(body(errors.http_type(exc), exc.message), status_code=status_of(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                fields.append({"field": "body", "problem": f"malformed JSON ({(e.get('ctx') or {}).get('error', '')})"})
            else:
                loc = [str(p) for p in e.get("loc", ()) if p != "body"]
                problem = str(e.get("msg", "")).removeprefix("Value error, ")
                fields.append({"field": ".".join(loc) or "body", "problem": problem})
        first = fields[0] if fields else {"field": "", "problem": "invalid request"}
        message = f"{first['field'] or 'body'}: {first['problem']}"
        return JSONResponse(body("invalid_request", message, fields=fields), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's JSON parser gave up on a body nested too deep
            return JSONResponse(body("invalid_request", f"body: nests too deeply (stored values may nest at most "
                                                        f"{MAX_DEPTH} levels)"), status_code=422)
        kind = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
                429: "too_many_requests"}.get(exc.status_code, "http_error")
        return JSONResponse(body(kind, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, _: RecursionError) -> JSONResponse:
        log.warning("too deeply nested to process: %s %s", request.method, printable(request.url.path))
        message = (f"a record this request reads nests too deeply to serve (it was stored before new records were "
                   f"limited to {MAX_DEPTH} levels)")
        return JSONResponse(body("too_deep", message), status_code=422)

    @app.exception_handler(PydanticSerializationError)
    async def too_deep_to_serialise(request: Request, exc: PydanticSerializationError) -> JSONResponse:
        if "depth exceeded" not in str(exc):
            raise exc  # a bug: LastResort answers and logs it
        return await too_deep(request, RecursionError())


class LastResort:
    """Pure ASGI middleware: an exception nothing else handled becomes a JSON 500 and one log line
    with the exception's type and the place it was raised (never its message, which may hold data)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            where = f"{frame.filename}:{frame.lineno}" if frame else "?"
            log.error("internal error on %s %s: %s at %s", scope.get("method"), printable(str(scope.get("path"))),
                      type(exc).__name__, where)
            if started:
                return  # the response is under way: nothing more can be said
            payload = json.dumps(body("internal_error", "internal error (logged on the server)")).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
