"""Administration: users and roles, tokens, label policies, the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from promptver.server import schemas
from promptver.server.policy import allow, registry
from promptver.services import access
from promptver.services.access import Principal

router = APIRouter(prefix="/v1")


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "role": row["role"], "created_by": row["created_by"]}


@router.get("/users")
def users(request: Request, principal: Principal = Depends(allow("admin"))) -> list[dict[str, Any]]:
    from promptver.storage.reader import AccessReader

    return [_user(u) for u in AccessReader(registry(request, principal).reader).users()]


@router.post("/users")
def add_user(request: Request, body: schemas.UserIn, principal: Principal = Depends(allow("admin"))) -> JSONResponse:
    return JSONResponse(_user(access.add_user(registry(request, principal), body.name, body.role)), status_code=201)


@router.put("/users/{name}/role")
def set_role(request: Request, name: str, body: schemas.RoleIn,
             principal: Principal = Depends(allow("admin"))) -> dict[str, Any]:
    return _user(access.set_role(registry(request, principal), name, body.role))


@router.get("/tokens")
def tokens(request: Request, user: str | None = None,
           principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    """Your tokens (admins: anyone's, or all with no ``user``). Never the tokens themselves."""
    return access.list_tokens(registry(request, principal), user if user or principal.role == "admin" else principal.name)


@router.post("/tokens")
def create_token(request: Request, body: schemas.TokenIn,
                 principal: Principal = Depends(allow("read"))) -> JSONResponse:
    """Create a token (for yourself, or as an admin for anyone); the token is in this response only."""
    token, record = access.create_token(registry(request, principal), body.user or principal.name, role=body.role,
                                        fetch_only=body.fetch_only, name=body.name, expires_at=body.expires_at)
    return JSONResponse({"token": token, **record}, status_code=201)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, body: schemas.RevokeIn,
                 principal: Principal = Depends(allow("read"))) -> dict[str, Any]:
    return access.revoke_token(registry(request, principal), token_id, body.reason)


@router.put("/label-policies/{prompt}/{label}")
def label_policy(request: Request, prompt: str, label: str, body: schemas.PolicyIn,
                 principal: Principal = Depends(allow("admin"))) -> dict[str, Any]:
    access.set_label_policy(registry(request, principal), prompt, label, protected=body.protected,
                            distinct_author=body.distinct_author, require_suite=body.require_suite,
                            require_suite_hash=body.require_suite_hash)
    policy = access.label_policy(registry(request, principal).reader, prompt, label)
    return {"prompt": prompt, "label": label, "protected": body.protected, "distinct_author": body.distinct_author,
            "require_suite": body.require_suite, "require_suite_hash": policy.require_suite_hash}


@router.get("/audit")
def audit(request: Request, limit: int = Query(100, ge=0), action: str | None = None,
          principal: Principal = Depends(allow("admin"))) -> list[dict[str, Any]]:
    return [e.to_json() for e in registry(request, principal).audit_log(limit, action)]



