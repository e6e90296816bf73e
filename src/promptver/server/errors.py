"""promptver errors -> HTTP responses, in one place: a JSON body {"error": {"type", "message"}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from promptver import errors

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
                fields.append({"field": ".".join(loc) or "body", "problem": e.get("msg", "")})
        first = fields[0] if fields else {"field": "", "problem": "invalid request"}
        message = f"{first['field'] or 'body'}: {first['problem']}"
        return JSONResponse(body("invalid_request", message, fields=fields), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(body(kind, str(exc.detail)), status_code=exc.status_code)
