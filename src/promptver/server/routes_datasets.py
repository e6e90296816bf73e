"""Dataset read routes: the datasets, a dataset's versions (with the eval runs that used each), and
one version with its cases. Any token that may read may call them; errors map like every route's
(server/errors.py): an unknown dataset or version is 404 with a JSON body."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from promptver.server.policy import allow, registry
from promptver.services import datasets
from promptver.services.access import Principal

router = APIRouter(prefix="/v1")


@router.get("/datasets")
def list_datasets(request: Request, principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    """Every dataset with its latest version, content hash and row count."""
    return datasets.summaries(registry(request, principal))


@router.get("/datasets/{name}/versions")
def dataset_versions(request: Request, name: str,
                     principal: Principal = Depends(allow("read"))) -> list[dict[str, Any]]:
    """The versions of a dataset, newest first, each with the eval runs that used it."""
    return datasets.history(registry(request, principal), name)


@router.get("/datasets/{name}/versions/{number}")
def dataset_version(request: Request, name: str, number: int,
                    principal: Principal = Depends(allow("read"))) -> dict[str, Any]:
    """One version of a dataset with its cases."""
    return datasets.detail(registry(request, principal), name, number)
