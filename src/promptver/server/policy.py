"""Access policies of routes. Every route must depend on ``allow(ACTION)``: a test walks the app's
routes and fails on any route without one (deny by default).

``allow("public")`` needs no token; every other action authenticates the bearer token and checks
the principal's role (services.access). The dependency yields a Registry acting as that principal.
A failed authentication is logged and counted; an address with too many gets 429 (auth_failures.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException

from promptver.errors import RegistryUnavailable, Unauthorized
from promptver.server.auth_failures import reason_of
from promptver.services import access
from promptver.services.registry import Registry

POLICY_ATTRIBUTE = "__promptver_policy__"


def allow(action: str) -> Callable[[Request], Any]:
    """A dependency that authenticates the request and checks ``action``; it yields the Principal.

    It runs on the event loop's thread and uses that thread's connection; endpoints open a Registry
    on their own thread with ``registry(request, principal)``.
    """
    if action != "public" and action not in access.ACTIONS:
        raise ValueError(f"unknown action {action!r}")

    async def dependency(request: Request) -> access.Principal:
        if action == "public":
            return access.Principal("anonymous", "viewer", fetch_only=True)
        state = request.app.state.promptver
        address = request.client.host if request.client else "unknown"
        wait = state.auth_failures.retry_after(address)
        if wait is not None:
            raise HTTPException(429, f"too many failed authentications from {address}: try again in {wait} s",
                                headers={"Retry-After": str(wait)})
        token = _bearer(request.headers.get("authorization"))
        try:
            db = state.database()
            try:
                principal = access.authenticate(db.reader, token)
            except Unauthorized as exc:
                state.auth_failures.failed(address, request.method, request.url.path, reason_of(token, exc.message))
                raise
            access.require(Registry(db, principal=principal), action, f"{request.method} {request.url.path}")
        except RegistryUnavailable:
            state.discard()
            raise
        return principal

    setattr(dependency, POLICY_ATTRIBUTE, action)
    return dependency


def registry(request: Request, principal: access.Principal) -> Registry:
    """A Registry on the calling thread's connection, acting as ``principal``."""
    return Registry(request.app.state.promptver.database(), principal=principal)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def route_policy(route: Any) -> str | None:
    """The action a route declares through ``allow``, or None."""
    for dep in route.dependant.dependencies:
        action = getattr(dep.call, POLICY_ATTRIBUTE, None)
        if action:
            return action
    return None


def api_routes(app: Any) -> list[Any]:
    """Every endpoint of the app, including those of included routers (for the policy test)."""
    found: list[Any] = []
    stack = list(app.routes)
    while stack:
        route = stack.pop(0)
        inner = getattr(route, "original_router", None) or getattr(route, "router", None)
        if inner is not None and not hasattr(route, "endpoint"):
            stack.extend(inner.routes)
        elif hasattr(route, "dependant"):
            found.append(route)
    return found
