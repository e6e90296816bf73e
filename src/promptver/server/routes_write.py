"""Write routes: push versions, pair, annotate, move labels, with exactly the CLI's validation
(the same services). 201 when something was created, 200 when it already existed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from promptver.server import schemas
from promptver.server.policy import allow, registry
from promptver.services.access import Principal

router = APIRouter(prefix="/v1")


def _created(created: bool, payload: dict[str, Any], warnings: list[str] | None = None) -> JSONResponse:
    body = {"status": "created" if created else "unchanged", **payload}
    if warnings is not None:
        body["warnings"] = warnings
    return JSONResponse(body, status_code=201 if created else 200)


@router.post("/prompts")
def push_prompt(request: Request, body: schemas.PromptIn, principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """Push a prompt version (identical to the latest: nothing new, 200)."""
    from promptver.templates.specs import PromptSpec

    spec = PromptSpec(name=body.name, messages=body.messages, variables=body.variables, tools=body.tools,
                      response_format=body.response_format, description=body.description, tags=body.tags)
    pushed = registry(request, principal).push_prompt(spec, message=body.message, parent=body.parent,
                                                      where=body.name)
    return _created(pushed.created, pushed.version.to_json())


@router.post("/models")
def push_model(request: Request, body: schemas.ModelIn, principal: Principal = Depends(allow("write"))) -> JSONResponse:
    """Push a model version; floating model ids come back with a warning."""
    from promptver.templates.specs import ModelSpec

    spec = ModelSpec(name=body.name, model=body.model, params=body.params, lineage=body.lineage,
                     description=body.description, tags=body.tags)
    pushed = registry(request, principal).push_model(spec, message=body.message, parent=body.parent, where=body.name)
    return _created(pushed.created, pushed.version.to_json(), pushed.warnings)


@router.post("/pairings")
def pair(request: Request, body: schemas.PairIn, principal: Principal = Depends(allow("write"))) -> JSONResponse:
    paired = registry(request, principal).pair(body.prompt, body.model, message=body.message)
    return _created(paired.created, paired.pairing.to_json())


@router.post("/annotations")
def annotate(request: Request, body: schemas.AnnotationIn,
             principal: Principal = Depends(allow("write"))) -> JSONResponse:
    version = registry(request, principal).annotate(body.kind, body.ref, body.tag, body.note)
    return JSONResponse(version.to_json(), status_code=201)


def _moved(event: Any, moved: bool) -> JSONResponse:
    return JSONResponse({"moved": moved, **event.to_json()}, status_code=201 if moved else 200)


@router.put("/prompts/{name}/labels/{label}")
def set_label(request: Request, name: str, label: str, body: schemas.LabelIn,
              principal: Principal = Depends(allow("release"))) -> JSONResponse:
    """Move a label (compare-and-set with ``expected_seq``: 409 if it moved meanwhile, or if the release
    gate refuses; ``force`` with a ``reason``: admins only (403 otherwise), past the gate)."""
    return _moved(*registry(request, principal).move_label(name, label, body.pairing, reason=body.reason,
                                                           expected_seq=body.expected_seq, force=body.force))


@router.post("/prompts/{name}/labels/{label}/remove")
def remove_label(request: Request, name: str, label: str, body: schemas.LabelRemoveIn,
                 principal: Principal = Depends(allow("release"))) -> JSONResponse:
    return _moved(*registry(request, principal).move_label(name, label, None, reason=body.reason,
                                                           expected_seq=body.expected_seq))


@router.post("/prompts/{name}/labels/{label}/rollback")
def rollback(request: Request, name: str, label: str, body: schemas.RollbackIn,
             principal: Principal = Depends(allow("release"))) -> JSONResponse:
    return _moved(*registry(request, principal).rollback(name, label, reason=body.reason, to_seq=body.to,
                                                         expected_seq=body.expected_seq))
