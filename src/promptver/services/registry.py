"""The registry use-cases: push prompt and model versions, pair them, annotate versions.

``Registry`` is also the Python API for scripts and training pipelines::

    from promptver.services.registry import Registry
    with Registry.open() as reg:
        result = reg.add_model("support-llm", "openai/gpt-4o-2024-08-06", params={"temperature": 0},
                               lineage={"base_model": "...", "weights_sha256": "..."}, capture_env=True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promptver.core.refs import Ref, check_name, parse_ref
from promptver.core.secrets import refuse_secrets
from promptver.core.types import AuditEvent, LabelEvent, ModelVersion, Pairing, PromptVersion, Resolved
from promptver.errors import InvalidRef, NotFound
from promptver.services import access
from promptver.services import resolve as _resolve
from promptver.services.access import Principal, local_principal
from promptver.services.database import Database, current_actor

if TYPE_CHECKING:  # the specs pull in Jinja2, which reads (promptver get) never need
    from promptver.templates.specs import ModelSpec, PromptSpec


@dataclass(frozen=True)
class Pushed:
    """The outcome of a push: the version, whether it is new, and any warnings for the user."""

    version: Any  # PromptVersion | ModelVersion
    created: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Paired:
    pairing: Pairing
    created: bool


def now() -> datetime:
    return datetime.now(UTC)


def audit(conn: Any, actor: str, action: str, target: str, **details: Any) -> None:
    """Append an audit event in the caller's transaction."""
    from promptver.storage import writes

    writes.insert_audit(conn, at=now(), actor=actor, action=action, target=target, details=details)


class Registry:
    """The registry as one principal sees it. Without a principal: the local user, with every right."""

    def __init__(self, db: Database, actor: str | None = None, principal: Principal | None = None) -> None:
        self.db = db
        self.reader = db.reader
        self.principal = principal or local_principal(actor or current_actor())
        self.actor = self.principal.name

    @classmethod
    def open(cls, url: str | None = None, *, actor: str | None = None, principal: Principal | None = None,
             token: str | None = None, **kwargs: Any) -> Any:
        """The registry at ``url``: a database URL (SQLite, PostgreSQL) opens it directly; an
        ``http(s)://`` URL is a ``promptver serve`` server, reached with ``token`` (default
        PROMPTVER_TOKEN) and returned as a ``services.remote.RemoteRegistry`` with the same API,
        acting under the token's role. No arguments: PROMPTVER_URL if set (as the CLI does), else
        the database (PROMPTVER_DB, else the local registry)."""
        import os

        if url is None and not kwargs and actor is None and principal is None:
            url = os.environ.get("PROMPTVER_URL", "").strip() or None
        if url is not None and url.lower().startswith(("http://", "https://")):
            from promptver.services.remote import RemoteRegistry

            if actor is not None or principal is not None or kwargs:
                from promptver.errors import UsageError

                raise UsageError("a registry server acts as its token's user: open it with url and token only")
            return RemoteRegistry(url, token or os.environ.get("PROMPTVER_TOKEN", "").strip() or None)
        if token is not None:
            from promptver.errors import UsageError

            raise UsageError("a token is for a registry server (an http:// or https:// URL), not a database")
        return cls(Database.open(url, **kwargs), actor, principal)

    def as_principal(self, principal: Principal) -> Registry:
        """The same database, seen and written as another principal (the server, per request)."""
        return Registry(self.db, principal=principal)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------------
    def prompt_version(self, ref: str | Ref, at: datetime | None = None) -> PromptVersion:
        return _resolve.prompt_version(self.reader, ref, at)

    def model_version(self, ref: str | Ref) -> ModelVersion:
        return _resolve.model_version(self.reader, ref)

    def resolve(self, ref: str | Ref, at: datetime | None = None) -> Resolved:
        return _resolve.resolve(self.reader, ref, at)

    def pairing(self, pairing_id: str) -> Pairing:
        return _resolve.pairing(self.reader, pairing_id)

    def log(self, kind: str, name: str, tag: str | None = None, limit: int | None = None) -> list[Any]:
        """Versions of a series, newest first: all, or the ``limit`` newest (carrying ``tag``)."""
        check_name(name, f"{kind} name")
        versions = self.reader.versions(kind, name, None if tag else limit)
        if not versions and self.reader.series_id(kind, name) is None:
            raise NotFound(f"no {kind} named {name!r}")
        if tag:
            versions = [v for v in versions if tag in v.all_tags()][:limit]
        return versions

    def series(self, kind: str) -> list[dict[str, Any]]:
        """Every prompt (or model) with its latest version, and for prompts the current labels."""
        out = []
        owners = self.reader.owners(kind)
        for name in self.reader.series_names(kind):
            latest = self.reader.version(kind, name)
            entry: dict[str, Any] = {"name": name, "owner": owners.get(name), "latest": latest.version if latest else None,
                                     "updated": latest.created_at if latest else None}
            if kind == "prompt":
                entry["labels"] = {k: v.pairing_id for k, v in sorted(self.current_labels(name).items())}
            else:
                entry["model"] = latest.model if latest else None
            out.append(entry)
        return out

    def current_labels(self, prompt: str) -> dict[str, LabelEvent]:
        """The labels of a prompt that point at a pairing now, with the event that set each."""
        self._known("prompt", prompt)
        return {k: v for k, v in self.reader.current_labels(prompt).items() if v.pairing_id}

    def label_history(self, prompt: str, label: str | None = None) -> list[LabelEvent]:
        self._known("prompt", prompt)
        return self.reader.label_history(prompt, label)

    def pairings(self, prompt: str) -> list[Pairing]:
        self._known("prompt", prompt)
        return self.reader.pairings_for(prompt)

    def audit_log(self, limit: int = 50, action: str | None = None) -> list[AuditEvent]:
        access.require(self, "admin", "audit log")
        return self.reader.audit(limit, action)

    def latest(self, kind: str, name: str) -> Any:
        """The latest version of a series, or None (no error): for sync's dry run."""
        return self.reader.version(kind, name)

    def _known(self, kind: str, name: str) -> None:
        check_name(name, f"{kind} name")
        if self.reader.series_id(kind, name) is None:
            raise NotFound(f"no {kind} named {name!r}")

    # -- access administration (services.access; the CLI calls these so a server can stand in) ---
    def users(self) -> list[dict[str, Any]]:
        from promptver.storage.reader import AccessReader

        access.require(self, "admin", "users")
        return [{"name": u["name"], "role": u["role"], "created_by": u["created_by"]}
                for u in AccessReader(self.reader).users()]

    def add_user(self, name: str, role: str) -> dict[str, Any]:
        user = access.add_user(self, name, role)
        return {"name": user["name"], "role": user["role"], "created_by": user["created_by"]}

    def set_role(self, name: str, role: str | None) -> dict[str, Any]:
        user = access.set_role(self, name, role)
        return {"name": user["name"], "role": user["role"], "created_by": user["created_by"]}

    def create_token(self, user: str | None = None, **options: Any) -> tuple[str, dict[str, Any]]:
        return access.create_token(self, user or self.actor, **options)

    def tokens(self, user: str | None = None) -> list[dict[str, Any]]:
        return access.list_tokens(self, user)

    def revoke_token(self, token_id: int, reason: str = "") -> dict[str, Any]:
        return access.revoke_token(self, token_id, reason)

    def set_label_policy(self, prompt: str, label: str, *, protected: bool, distinct_author: bool = False,
                         require_suite: str | None = None, require_suite_hash: str | None = None) -> None:
        access.set_label_policy(self, prompt, label, protected=protected, distinct_author=distinct_author,
                                require_suite=require_suite, require_suite_hash=require_suite_hash)

    # -- releases -------------------------------------------------------------------------------
    def move_label(self, prompt: str, label: str, pairing: str | None, *, reason: str = "",
                   expected_seq: int | None = None, force: bool = False) -> tuple[LabelEvent, bool]:
        """Point a label at a pairing (None removes it); compare-and-set against ``expected_seq``.
        ``force`` (admins, with a ``reason``): past a refusing release gate, keeping the refusal."""
        from promptver.services import labels

        kwargs: dict[str, Any] = {} if expected_seq is None else {"expected_seq": expected_seq}
        action = "label.set" if pairing is not None else "label.remove"
        return labels.move(self, prompt, label, pairing, reason=reason, action=action, force=force, **kwargs)

    def rollback(self, prompt: str, label: str, *, reason: str = "", to_seq: int | None = None,
                 expected_seq: int | None = None) -> tuple[LabelEvent, bool]:
        from promptver.services import labels

        return labels.rollback(self, prompt, label, reason=reason, to_seq=to_seq, expected_seq=expected_seq)

    # -- writes ---------------------------------------------------------------------------------
    def push_prompt(self, spec: PromptSpec, *, message: str = "", parent: str | None = None,
                    where: str = "prompt") -> Pushed:
        """Store ``spec`` as the next version of its prompt; identical to the latest: no-op."""
        access.require(self, "write", spec.name)
        spec, variable_names = spec.validated(where)
        fields = dict(messages=spec.messages, variables=spec.variables, variable_names=variable_names,
                      tools=spec.tools, response_format=spec.response_format)
        return self._push("prompt", spec, fields, message, parent, [], "prompt.push", {})

    def add_model(self, name: str, model: str, *, params: dict[str, Any] | None = None,
                  lineage: dict[str, Any] | None = None, message: str = "", description: str = "",
                  tags: list[str] | None = None, parent: str | None = None, capture_env: bool = False,
                  where: str = "model") -> Pushed:
        """Store a model version (a provider snapshot + params, or a fine-tune with its lineage)."""
        lineage = dict(lineage or {})
        if capture_env:
            from promptver.services.environment import capture_environment

            lineage["environment"] = capture_environment()
        from promptver.templates.specs import ModelSpec

        spec = ModelSpec(name, model, params or {}, lineage, description, tags or [])
        return self.push_model(spec, message=message, parent=parent, where=where)

    def push_model(self, spec: ModelSpec, *, message: str = "", parent: str | None = None,
                   where: str = "model") -> Pushed:
        """Store ``spec`` as the next version of its model; identical to the latest: no-op."""
        access.require(self, "write", spec.name)
        spec, warnings = spec.validated(where)
        fields = dict(model=spec.model, params=spec.params, **spec.lineage)
        return self._push("model", spec, fields, message, parent, warnings, "model.add", {"model": spec.model})

    def _push(self, kind: str, spec: Any, fields: dict[str, Any], message: str, parent: str | None,
              warnings: list[str], action: str, details: dict[str, Any]) -> Pushed:
        """One version write: lock the series, no-op on identical content, else number, insert, audit."""
        from promptver.storage import writes

        refuse_secrets(message, "message", names=False)
        digest = spec.content_hash
        parent_version = self._parent(kind, spec.name, parent)

        def work(conn: Any) -> tuple[int, bool]:
            series_id = self._series(conn, kind, spec.name)
            latest = writes.latest_version(conn, kind, series_id)
            if latest is not None and latest.content_hash == digest:
                return latest.id, False
            parent_id = latest.id if latest is not None else None
            if parent_version is not None:
                parent_id = writes.version_id(conn, kind, series_id, parent_version)
            version = (latest.version + 1) if latest else 1
            row_id = writes.insert_version(
                conn, kind, **{f"{kind}_id": series_id}, version=version, parent_id=parent_id,
                content_hash=digest, **fields, description=spec.description, message=message, tags=spec.tags,
                author=self.actor, created_at=now())
            audit(conn, self.actor, action, f"{spec.name}/{version}", content_hash=digest,
                  parent=parent_version, message=message, **details)
            return row_id, True

        version_id, created = self.db.write(work)
        return Pushed(self.reader.version_by_id(kind, version_id), created, warnings)

    def pair(self, prompt_ref: str, model_ref: str, *, message: str = "") -> Paired:
        """Link a prompt version with a model version (the same two versions: the same pairing)."""
        from promptver.core.identity import pairing_id

        access.require(self, "write", f"{prompt_ref} + {model_ref}")
        prompt = self.prompt_version(prompt_ref)
        model = self.model_version(model_ref)
        existing = self.reader.pairing_of(prompt.id, model.id)
        if existing is not None:
            return Paired(existing, False)
        refuse_secrets(message, "message", names=False)
        pid = pairing_id(prompt.content_hash, model.content_hash, prompt.name, prompt.version,
                         model.name, model.version)
        series_id = self.reader.series_id("prompt", prompt.name)

        def work(conn: Any) -> bool:
            from promptver.storage import writes

            if writes.pairing_exists(conn, pid):
                return False
            writes.insert_pairing(conn, id=pid, prompt_id=series_id, prompt_version_id=prompt.id,
                                  model_version_id=model.id, message=message, author=self.actor, created_at=now())
            audit(conn, self.actor, "pair", pid, prompt=prompt.ref, model=model.ref, message=message)
            return True

        created = self.db.write(work)
        return Paired(self.pairing(pid), created)

    def annotate(self, kind: str, ref: str, tag: str, note: str = "") -> Any:
        """Add an annotation (``approved``, ``incident-4711``) to an existing version."""
        from promptver.storage import writes

        access.require(self, "write", ref)
        tag = check_name(tag, "tag")
        refuse_secrets(note, "note", names=False)
        version = self.prompt_version(ref) if kind == "prompt" else self.model_version(ref)

        def work(conn: Any) -> None:
            writes.insert_annotation(conn, prompt_version_id=version.id if kind == "prompt" else None,
                                     model_version_id=version.id if kind == "model" else None,
                                     tag=tag, note=note, actor=self.actor, created_at=now())
            audit(conn, self.actor, f"{kind}.annotate", version.ref, tag=tag, note=note)

        self.db.write(work)
        return self.reader.with_annotations(kind, version)

    # -- helpers --------------------------------------------------------------------------------
    def _parent(self, kind: str, name: str, parent: str | None) -> int | None:
        if parent is None:
            return None
        ref = parse_ref(parent, allow_pairing=False)
        if ref.name != name or ref.version is None:
            raise InvalidRef(f"--from must name a version of {name} itself, such as {name}/3 (got {parent!r})")
        version = self.prompt_version(ref) if kind == "prompt" else self.model_version(ref)
        return version.version

    def _series(self, conn: Any, kind: str, name: str) -> int:
        """The id of series ``name``, locked for this transaction (PostgreSQL); created if new."""
        from promptver.storage import writes

        found = writes.lock_series(conn, kind, name)
        if found is not None:
            return found
        new_id = writes.insert_series(conn, kind, name=name, owner=self.actor, created_at=now())
        audit(conn, self.actor, f"{kind}.create", name)
        return new_id
