"""A request body limit, as pure ASGI middleware: 413 with a JSON body before the app sees the body.

The body is read here, up to the limit, whether its length is declared (``Content-Length``: refused
at once when over) or not (``Transfer-Encoding: chunked``: refused as soon as the chunks pass the
limit); the app then gets it whole. So no route, and no body parser, ever holds more than the limit.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BODY_BYTES = 1_000_000


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._reject(send, 413 if length.isdigit() else 400)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: bytes | None = b"".join(chunks)

        async def replay() -> dict[str, Any]:
            nonlocal body
            if body is None:
                return await receive()  # type: ignore[no-any-return]
            message, body = {"type": "http.request", "body": body, "more_body": False}, None
            return message

        await self.app(scope, replay, send)

    async def _reject(self, send: Any, status: int) -> None:
        kind, message = (("too_large", f"request body over {self.max_bytes} bytes") if status == 413
                         else ("invalid_request", "Content-Length must be a number"))
        payload = json.dumps({"error": {"type": kind, "message": message}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
