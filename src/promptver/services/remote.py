"""The registry over HTTP: what the CLI uses when PROMPTVER_URL is set (token: PROMPTVER_TOKEN).

It offers the methods of ``services.registry.Registry`` that the CLI calls, validates input locally
with the same specs first (so file errors name the file), and maps the server's JSON errors back
onto the promptver error tree, in ``_raise``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from promptver import errors
from promptver.core.refs import Ref, parse_ref
from promptver.core.types import (
    AuditEvent,
    LabelEvent,
    ModelVersion,
    Pairing,
    PromptVersion,
    Resolved,
    iso,
    parse_iso,
)
from promptver.services.registry import Paired, Pushed


def _event(data: dict[str, Any]) -> LabelEvent:
    return LabelEvent(data["prompt"], data["label"], data["seq"], data["pairing"], data["previous"], data["actor"],
                      data["reason"], parse_iso(data["created_at"]),  # type: ignore[arg-type]
                      data.get("gate_override"))


def _pairing(data: dict[str, Any]) -> Pairing:
    return Pairing(data["id"], PromptVersion.from_json(data["prompt_version"]),
                   ModelVersion.from_json(data["model_version"]), data.get("message", ""), data.get("author", ""),
                   parse_iso(data["created_at"]))  # type: ignore[arg-type]


class RemoteRegistry:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        import httpx

        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._me: dict[str, Any] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise errors.RegistryUnavailable(f"cannot reach the registry server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            self._raise(response)
        return response.json()

    @staticmethod
    def _raise(response: Any) -> None:
        try:
            error = response.json()["error"]
            kind, message = error.get("type", ""), error.get("message", "")
        except (ValueError, KeyError, TypeError):
            kind, message = "", f"HTTP {response.status_code} from the registry server"
        if kind == "missing_variables":
            raise errors.MissingVariables([], message)
        raise errors.error_class(kind, response.status_code)(message)

    @property
    def actor(self) -> str:
        if self._me is None:
            self._me = self._call("GET", "/v1/me")
        return str(self._me["name"])

    # -- reads ----------------------------------------------------------------------------------
    def resolve(self, ref: str | Ref, at: datetime | None = None) -> Resolved:
        params = {"ref": str(ref)} | ({"at": iso(at)} if at else {})
        return Resolved.from_json(self._call("GET", "/v1/resolve", params=params))

    def _version(self, kind: str, ref: str | Ref) -> Any:
        parsed = parse_ref(ref, allow_pairing=kind == "prompt") if isinstance(ref, str) else ref
        if parsed.label or parsed.pairing:
            if kind == "model":
                raise errors.InvalidRef(f"labels belong to prompts, not models: use {parsed.name}/N")
            return self.resolve(parsed).pairing.prompt
        cls = PromptVersion if kind == "prompt" else ModelVersion
        base = f"/v1/{kind}s/{quote(str(parsed.name))}/versions"
        if parsed.version is not None:
            return cls.from_json(self._call("GET", f"{base}/{parsed.version}"))
        latest = self._call("GET", base, params={"limit": 1})
        if not latest:
            raise errors.NotFound(f"{kind} {parsed.name!r} has no versions")
        return cls.from_json(latest[0])

    def prompt_version(self, ref: str | Ref, at: datetime | None = None) -> PromptVersion:
        if at is not None:
            return self.resolve(ref, at).pairing.prompt
        return self._version("prompt", ref)  # type: ignore[no-any-return]

    def model_version(self, ref: str | Ref) -> ModelVersion:
        return self._version("model", ref)  # type: ignore[no-any-return]

    def pairing(self, pairing_id: str) -> Pairing:
        return _pairing(self._call("GET", f"/v1/pairings/{quote(pairing_id)}"))

    def log(self, kind: str, name: str, tag: str | None = None, limit: int | None = None) -> list[Any]:
        cls = PromptVersion if kind == "prompt" else ModelVersion
        params = {k: v for k, v in (("tag", tag), ("limit", limit)) if v is not None}
        return [cls.from_json(v) for v in self._call("GET", f"/v1/{kind}s/{quote(name)}/versions", params=params)]

    def latest(self, kind: str, name: str) -> Any:
        try:
            found = self.log(kind, name, limit=1)
        except errors.NotFound:
            return None
        return found[0] if found else None

    def series(self, kind: str) -> list[dict[str, Any]]:
        return [{**row, "updated": parse_iso(row["updated"])} for row in self._call("GET", f"/v1/{kind}s")]

    def current_labels(self, prompt: str) -> dict[str, LabelEvent]:
        return {k: _event(v) for k, v in self._call("GET", f"/v1/prompts/{quote(prompt)}/labels").items()}

    def label_history(self, prompt: str, label: str | None = None) -> list[LabelEvent]:
        params = {"label": label} if label else {}
        return [_event(e) for e in self._call("GET", f"/v1/prompts/{quote(prompt)}/labels/history", params=params)]

    def pairings(self, prompt: str) -> list[Pairing]:
        return [_pairing(p) for p in self._call("GET", f"/v1/prompts/{quote(prompt)}/pairings")]

    def audit_log(self, limit: int = 50, action: str | None = None) -> list[AuditEvent]:
        params = {"limit": limit} | ({"action": action} if action else {})
        return [AuditEvent(e["id"], parse_iso(e["at"]), e["actor"], e["action"], e["target"], e["details"])  # type: ignore[arg-type]
                for e in self._call("GET", "/v1/audit", params=params)]

    # -- writes ---------------------------------------------------------------------------------
    def push_prompt(self, spec: Any, *, message: str = "", parent: str | None = None, where: str = "prompt") -> Pushed:
        spec, _ = spec.validated(where)  # the server validates again; this names the file
        body = {"name": spec.name, "messages": spec.messages, "variables": spec.variables, "tools": spec.tools,
                "response_format": spec.response_format, "description": spec.description, "tags": spec.tags,
                "message": message, "parent": parent}
        data = self._call("POST", "/v1/prompts", json=body)
        return Pushed(PromptVersion.from_json(data), data["status"] == "created")

    def push_model(self, spec: Any, *, message: str = "", parent: str | None = None, where: str = "model") -> Pushed:
        spec, _ = spec.validated(where)
        body = {"name": spec.name, "model": spec.model, "params": spec.params,
                "lineage": {k: v for k, v in spec.lineage.items() if v is not None}, "description": spec.description,
                "tags": spec.tags, "message": message, "parent": parent}
        data = self._call("POST", "/v1/models", json=body)
        return Pushed(ModelVersion.from_json(data), data["status"] == "created", data.get("warnings") or [])

    def add_model(self, name: str, model: str, *, params: dict[str, Any] | None = None,
                  lineage: dict[str, Any] | None = None, message: str = "", description: str = "",
                  tags: list[str] | None = None, parent: str | None = None, capture_env: bool = False,
                  where: str = "model") -> Pushed:
        from promptver.templates.specs import ModelSpec

        lineage = dict(lineage or {})
        if capture_env:  # this machine's environment, where the model was trained or is run
            from promptver.services.environment import capture_environment

            lineage["environment"] = capture_environment()
        spec = ModelSpec(name, model, params or {}, lineage, description, tags or [])
        return self.push_model(spec, message=message, parent=parent, where=where)

    def pair(self, prompt_ref: str, model_ref: str, *, message: str = "") -> Paired:
        data = self._call("POST", "/v1/pairings", json={"prompt": prompt_ref, "model": model_ref, "message": message})
        return Paired(self.pairing(data["id"]), data["status"] == "created")

    def annotate(self, kind: str, ref: str, tag: str, note: str = "") -> Any:
        data = self._call("POST", "/v1/annotations", json={"kind": kind, "ref": ref, "tag": tag, "note": note})
        return (PromptVersion if kind == "prompt" else ModelVersion).from_json(data)

    def move_label(self, prompt: str, label: str, pairing: str | None, *, reason: str = "",
                   expected_seq: int | None = None, force: bool = False) -> tuple[LabelEvent, bool]:
        base = f"/v1/prompts/{quote(prompt)}/labels/{quote(label)}"
        if pairing is None:
            data = self._call("POST", base + "/remove", json={"reason": reason, "expected_seq": expected_seq})
        else:
            body: dict[str, Any] = {"pairing": pairing, "reason": reason, "expected_seq": expected_seq}
            if force:  # only when asked: an older server refuses unknown fields
                body["force"] = True
            data = self._call("PUT", base, json=body)
        return _event(data), bool(data["moved"])

    def rollback(self, prompt: str, label: str, *, reason: str = "", to_seq: int | None = None,
                 expected_seq: int | None = None) -> tuple[LabelEvent, bool]:
        data = self._call("POST", f"/v1/prompts/{quote(prompt)}/labels/{quote(label)}/rollback",
                          json={"reason": reason, "to": to_seq, "expected_seq": expected_seq})
        return _event(data), bool(data["moved"])

    # -- access administration ------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/users"))

    def add_user(self, name: str, role: str) -> dict[str, Any]:
        return dict(self._call("POST", "/v1/users", json={"name": name, "role": role}))

    def set_role(self, name: str, role: str | None) -> dict[str, Any]:
        return dict(self._call("PUT", f"/v1/users/{quote(name)}/role", json={"role": role}))

    def create_token(self, user: str | None = None, **options: Any) -> tuple[str, dict[str, Any]]:
        if options.get("expires_at") is not None:
            options["expires_at"] = iso(options["expires_at"])
        data = dict(self._call("POST", "/v1/tokens", json={"user": user, **options}))
        return data.pop("token"), data

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/tokens", params={"user": user} if user else {}))

    def revoke_token(self, token_id: int, reason: str = "") -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/tokens/{token_id}/revoke", json={"reason": reason}))

    def set_label_policy(self, prompt: str, label: str, *, protected: bool, distinct_author: bool = False,
                         require_suite: str | None = None, require_suite_hash: str | None = None) -> None:
        body: dict[str, Any] = {"protected": protected, "distinct_author": distinct_author,
                                "require_suite": require_suite}
        if require_suite_hash is not None:
            body["require_suite_hash"] = require_suite_hash
        self._call("PUT", f"/v1/label-policies/{quote(prompt, safe='*')}/{quote(label)}", json=body)

    # -- datasets (the shapes of services.datasets.summaries / history / detail) -------------------
    def dataset_summaries(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/datasets"))

    def dataset_history(self, name: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/v1/datasets/{quote(name, safe='')}/versions"))

    def dataset_detail(self, name: str, number: int | None = None) -> dict[str, Any]:
        if number is None:
            newest = self.dataset_history(name)
            if not newest:
                raise errors.NotFound(f"dataset {name!r} has no versions")
            number = int(newest[0]["version"])
        return dict(self._call("GET", f"/v1/datasets/{quote(name, safe='')}/versions/{number}"))

    # -- evals (the routes of server/routes_evals.py; evals/remote_store.py uses them) -------------
    is_remote = True  # evals/store.py: runs go through the server (RemoteRunStore), not the database

    def fork(self) -> RemoteRegistry:
        """Another client of the same server with the same token: a run saves its batches on a
        worker thread, on a connection of its own."""
        import httpx

        twin = RemoteRegistry.__new__(RemoteRegistry)
        twin.url, twin._me = self.url, self._me
        twin._http = httpx.Client(base_url=self.url, headers=dict(self._http.headers), timeout=self._http.timeout)
        return twin

    def push_dataset(self, name: str, cases: list[dict[str, Any]], digest: str, *, source: str = "",
                     message: str = "") -> tuple[Any, bool]:
        """``services.datasets.push`` through the server (which checks ``digest`` against the cases)."""
        from promptver.services.datasets import DatasetVersion

        data = self._call("POST", "/v1/datasets", json={"name": name, "cases": cases, "content_hash": digest,
                                                         "source": source, "message": message})
        return DatasetVersion(data["id"], data["dataset"], data["version"], data["content_hash"], cases,
                              data.get("source") or "", data.get("message") or "", data.get("author") or "",
                              parse_iso(data["created_at"]) if data.get("created_at") else None), \
            data["status"] == "created"

    def eval_call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request to the eval routes (``/v1/evals/...``), errors mapped as every call's."""
        return self._call(method, "/v1/evals" + path, **kwargs)

    def whoami(self) -> dict[str, Any]:
        """The token's identity: ``{"name", "role", "fetch_only"}``."""
        if self._me is None:
            self._me = self._call("GET", "/v1/me")
        return dict(self._me)
