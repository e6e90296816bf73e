"""Read routes: resolve (for apps; ETag and 304), versions, pairings, labels, history."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from promptver.core.types import iso
from promptver.server.policy import allow, registry
from promptver.services.access import Principal

router = APIRouter(prefix="/v1")


def not_modified(request: Request, etag: str) -> Response | None:
    """304 when the client already holds the content with ``etag`` (If-None-Match), else None."""
    quoted = f'"{etag}"'
    if quoted in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": quoted})
    return None


def tagged(request: Request, etag: str, payload: Any) -> Response:
    """200 with ``ETag``, or 304 when the client already holds this content."""
    return not_modified(request, etag) or JSONResponse(payload, headers={"ETag": f'"{etag}"'})


@router.get("/health")
async def health(request: Request, _: Principal = Depends(allow("public"))) -> dict[str, Any]:
    """Liveness and database reachability (503 when the database cannot be read)."""
    from promptver import __version__

    request.app.state.promptver.database().reader.scalar("SELECT 1")
    return {"status": "ok", "version": __version__}


@router.get("/resolve")
async def resolve(request: Request, ref: str, at: str | None = None,
                  principal: Principal = Depends(allow("fetch"))) -> Response:
    """The pinned pair a ref resolves to: ``NAME@LABEL`` (now, or ``at`` a time), a pairing id, ``NAME/N``."""
    from promptver.core.refs import parse_time

    resolved = registry(request, principal).resolve(ref, parse_time(at) if at else None)
    etag = resolved.etag
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    # what a ref resolves to is one immutable pairing seen through one immutable label event (or none):
    # serialise it once, whatever the ref or the time that led there, and put the request's own
    # ref and at in front (bounded by bytes, and per token: server/bodies.py)
    cache = request.app.state.promptver.bodies
    key = (resolved.pairing.id, resolved.label, resolved.event.seq if resolved.event else None)
    body = cache.get(key)
    if body is None:
        owner = principal.token_id if principal.token_id is not None else principal.name
        body = cache.put(key, json.dumps(resolved.to_json()).encode(), owner)
    head = json.dumps({"ref": ref, "at": at}).encode()
    return Response(head[:-1] + b", " + body[1:], media_type="application/json", headers={"ETag": f'"{etag}"'})


@router.get("/me")
async def me(principal: Principal = Depends(allow("fetch"))) -> dict[str, Any]:
    """Who the token belongs to and what it may do."""
    return {"name": principal.name, "role": principal.role, "fetch_only": principal.fetch_only}


def _series(kind: str) -> None:
    plural = f"/{kind}s"

    @router.get(plural, name=f"list_{kind}s")
    def list_series(request: Request, principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
        rows = registry(request, principal).series(kind)
        return [{**r, "updated": iso(r["updated"])} for r in rows]

    @router.get(plural + "/{name}/versions", name=f"{kind}_versions")
    def versions(request: Request, name: str, tag: str | None = None, limit: int | None = Query(None, ge=0),
                 principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
        return [v.to_json() for v in registry(request, principal).log(kind, name, tag, limit)]

    @router.get(plural + "/{name}/versions/{number}", name=f"{kind}_version")
    def version(request: Request, name: str, number: int, principal: Principal = Depends(allow("read"))) -> Response:
        reg = registry(request, principal)
        found = reg.prompt_version(f"{name}/{number}") if kind == "prompt" else reg.model_version(f"{name}/{number}")
        return tagged(request, found.content_hash, found.to_json())

    @router.get(plural + "/{name}/diff", name=f"{kind}_diff")
    def diff(request: Request, name: str, old: int, new: int,
             principal: Principal = Depends(allow("read"))) -> dict[str, Any]:
        from promptver.core.diff import diff_models, diff_prompts

        reg = registry(request, principal)
        if kind == "prompt":
            return diff_prompts(reg.prompt_version(f"{name}/{old}"), reg.prompt_version(f"{name}/{new}")).to_json()
        return diff_models(reg.model_version(f"{name}/{old}"), reg.model_version(f"{name}/{new}")).to_json()


_series("prompt")
_series("model")


def _pairing(found: Any) -> dict[str, Any]:
    return {**found.to_json(), "prompt_version": found.prompt.to_json(), "model_version": found.model.to_json()}


@router.get("/pairings/{pairing_id}")
def pairing(request: Request, pairing_id: str, principal: Principal = Depends(allow("read"))) -> dict[str, Any]:
    """A pairing (id or unique prefix) with both of its versions."""
    return _pairing(registry(request, principal).pairing(pairing_id))


@router.get("/prompts/{name}/pairings")
def pairings(request: Request, name: str, principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    return [_pairing(p) for p in registry(request, principal).pairings(name)]


@router.get("/prompts/{name}/labels")
def labels(request: Request, name: str, principal: Principal = Depends(allow("read"))) -> dict[str, Any]:
    return {k: v.to_json() for k, v in registry(request, principal).current_labels(name).items()}


@router.get("/prompts/{name}/labels/history")
def label_history(request: Request, name: str, label: str | None = None,
                  principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    return [e.to_json() for e in registry(request, principal).label_history(name, label)]
