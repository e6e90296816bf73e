"""SQLModel tables. Every table here is append-only: the database refuses UPDATE and DELETE
(see guards.py). Times are naive UTC. JSON columns hold canonical-able JSON values.

Every table but the two caches is also a hash chain (storage/chain.py): ``chain_seq`` (1, 2, 3...
per table, unique) and ``chain_hash`` (covers the row's columns and the previous row's hash), set
by the writers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from promptver.storage.schema import APPEND_ONLY_TABLES, CHAINED_TABLES  # noqa: F401  (re-exported)


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class _Chained(SQLModel):
    """The chain columns every table has (NULL only in a row written around promptver: verify says so)."""

    chain_seq: int | None = Field(default=None)
    chain_hash: str | None = Field(default=None, max_length=64)


class PromptRow(_Chained, table=True):
    __tablename__ = "prompts"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    owner: str = Field(max_length=200)
    created_at: datetime


class PromptVersionRow(_Chained, table=True):
    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_number"),
        Index("ix_prompt_versions_hash", "prompt_id", "content_hash"),
    )
    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="prompts.id")
    version: int
    parent_id: int | None = Field(default=None, foreign_key="prompt_versions.id")
    content_hash: str = Field(max_length=64)
    messages: list[dict[str, Any]] = _json()
    variables: dict[str, Any] = _json()
    variable_names: list[str] = _json()
    tools: list[Any] | None = _json(nullable=True)
    response_format: Any = _json(nullable=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    tags: list[str] = _json()
    author: str = Field(max_length=200)
    created_at: datetime


class ModelRow(_Chained, table=True):
    __tablename__ = "models"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    owner: str = Field(max_length=200)
    created_at: datetime


class ModelVersionRow(_Chained, table=True):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
        Index("ix_model_versions_hash", "model_id", "content_hash"),
    )
    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="models.id")
    version: int
    parent_id: int | None = Field(default=None, foreign_key="model_versions.id")
    content_hash: str = Field(max_length=64)
    model: str = Field(max_length=300)
    params: dict[str, Any] = _json()
    base_model: str | None = Field(default=None, max_length=300)
    weights_uri: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    weights_sha256: str | None = Field(default=None, max_length=64)
    training_data_ref: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    training_data_hash: str | None = Field(default=None, max_length=128)
    training_code_repo: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    training_code_commit: str | None = Field(default=None, max_length=64)
    hyperparameters: dict[str, Any] | None = _json(nullable=True)
    environment: dict[str, Any] | None = _json(nullable=True)
    metrics: dict[str, Any] | None = _json(nullable=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    tags: list[str] = _json()
    author: str = Field(max_length=200)
    created_at: datetime


class PairingRow(_Chained, table=True):
    __tablename__ = "pairings"
    __table_args__ = (UniqueConstraint("prompt_version_id", "model_version_id", name="uq_pairings_pair"),)
    id: str = Field(primary_key=True, max_length=12)
    prompt_id: int = Field(foreign_key="prompts.id", index=True)
    prompt_version_id: int = Field(foreign_key="prompt_versions.id")
    model_version_id: int = Field(foreign_key="model_versions.id")
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str = Field(max_length=200)
    created_at: datetime


class LabelEventRow(_Chained, table=True):
    """One move of a label. The label's current target is its event with the highest seq."""

    __tablename__ = "label_events"
    __table_args__ = (
        UniqueConstraint("prompt_id", "label", "seq", name="uq_label_events_seq"),
        Index("ix_label_events_time", "prompt_id", "label", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="prompts.id")
    label: str = Field(max_length=100)
    seq: int
    pairing_id: str | None = Field(default=None, foreign_key="pairings.id", max_length=12)
    previous_pairing_id: str | None = Field(default=None, foreign_key="pairings.id", max_length=12)
    actor: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    gate_override: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # a forced release: the refusal
    created_at: datetime


class AnnotationRow(_Chained, table=True):
    """A tag added to a version after it was created (``approved``, ``incident-4711``)."""

    __tablename__ = "annotations"
    id: int | None = Field(default=None, primary_key=True)
    prompt_version_id: int | None = Field(default=None, foreign_key="prompt_versions.id", index=True)
    model_version_id: int | None = Field(default=None, foreign_key="model_versions.id", index=True)
    tag: str = Field(max_length=100, index=True)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=200)
    created_at: datetime


class AuditEventRow(_Chained, table=True):
    __tablename__ = "audit_events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    target: str = Field(sa_column=Column(Text, nullable=False))
    details: dict[str, Any] = _json()


class UserRow(_Chained, table=True):
    """A person or service that uses a shared registry. Its role is its latest role grant."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    created_by: str = Field(max_length=200)
    created_at: datetime


class RoleGrantRow(_Chained, table=True):
    """A user's role from this time on (role None: disabled)."""

    __tablename__ = "role_grants"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: str | None = Field(default=None, max_length=20)
    actor: str = Field(max_length=200)
    created_at: datetime


class ApiTokenRow(_Chained, table=True):
    """An API token: only its sha256 is stored. Its rights never exceed its user's current role."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: str = Field(max_length=20)
    fetch_only: bool = False
    name: str = Field(default="", max_length=200)
    created_by: str = Field(max_length=200)
    created_at: datetime
    expires_at: datetime | None = None


class TokenRevocationRow(_Chained, table=True):
    __tablename__ = "token_revocations"
    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="api_tokens.id", index=True)
    actor: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime


class LabelPolicyRow(_Chained, table=True):
    """Whether a label is protected, from this time on. prompt "*" applies to every prompt."""

    __tablename__ = "label_policies"
    id: int | None = Field(default=None, primary_key=True)
    prompt: str = Field(max_length=100)
    label: str = Field(max_length=100)
    protected: bool
    distinct_author: bool = False
    require_suite: str | None = Field(default=None, max_length=300)
    require_suite_hash: str | None = Field(default=None, max_length=64)  # the suite content the gate pins
    actor: str = Field(max_length=200)
    created_at: datetime


class DatasetRow(_Chained, table=True):
    __tablename__ = "datasets"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    owner: str = Field(max_length=200)
    created_at: datetime


class DatasetVersionRow(_Chained, table=True):
    """An immutable, content-hashed set of test cases: [{id, vars, expected, metadata}]."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),)
    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="datasets.id")
    version: int
    content_hash: str = Field(max_length=64)
    cases: list[dict[str, Any]] = _json()
    source: str = Field(default="", sa_column=Column(Text, nullable=False))
    message: str = Field(default="", sa_column=Column(Text, nullable=False))
    author: str = Field(max_length=200)
    created_at: datetime


class EvalRunRow(_Chained, table=True):
    """One replay of a dataset version against pairings. Its state is its latest run event."""

    __tablename__ = "eval_runs"
    id: str = Field(primary_key=True, max_length=32)
    suite: str = Field(max_length=300)
    suite_hash: str = Field(max_length=64)
    kind: str = Field(default="suite", max_length=20)  # suite | attribution | bisect (replays)
    suite_content_hash: str | None = Field(default=None, max_length=64)
    dataset_version_id: int = Field(foreign_key="dataset_versions.id")
    plan: dict[str, Any] = _json()
    environment: dict[str, Any] = _json()
    actor: str = Field(max_length=200)
    created_at: datetime


class EvalRunEventRow(_Chained, table=True):
    """A run's state from this time on: running, interrupted, resumed, completed."""

    __tablename__ = "eval_run_events"
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_runs.id", index=True, max_length=32)
    state: str = Field(max_length=20)
    details: dict[str, Any] = _json()
    created_at: datetime


class EvalResultRow(_Chained, table=True):
    """One model call of a run: a case, a pairing, a repeat."""

    __tablename__ = "eval_results"
    __table_args__ = (UniqueConstraint("run_id", "pairing_id", "case_id", "repeat", "attempt",
                                       name="uq_eval_results_attempt"),
                      Index("ix_eval_results_pairing", "pairing_id", "run_id"))
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_runs.id", index=True, max_length=32)
    pairing_id: str = Field(foreign_key="pairings.id", max_length=12)
    case_id: str = Field(max_length=200)
    repeat: int = 0
    attempt: int = 0  # --resume retries an errored call as attempt n + 1
    request_key: str = Field(max_length=64)
    output: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error_kind: str | None = Field(default=None, max_length=20)
    response_model: str | None = Field(default=None, max_length=300)
    system_fingerprint: str | None = Field(default=None, max_length=200)
    created_at: datetime


class EvalScoreRow(_Chained, table=True):
    __tablename__ = "eval_scores"
    __table_args__ = (UniqueConstraint("result_id", "scorer", name="uq_eval_scores_scorer"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_runs.id", index=True, max_length=32)
    result_id: int = Field(foreign_key="eval_results.id")
    scorer: str = Field(max_length=200)
    scorer_version: str = Field(max_length=64)
    value: float
    passed: bool
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))


class ResponseCacheRow(SQLModel, table=True):
    """A successful model response by the key of everything that decides it (never errors)."""

    __tablename__ = "response_cache"
    key: str = Field(primary_key=True, max_length=64)
    response: dict[str, Any] = _json()
    created_at: datetime


class ScoreCacheRow(SQLModel, table=True):
    """A score by (response key, scorer version): re-scoring never calls the model again."""

    __tablename__ = "score_cache"
    key: str = Field(primary_key=True, max_length=64)
    value: float
    passed: bool
    detail: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime



class AttributionReportRow(_Chained, table=True):
    """A stored change-attribution (or bisect) report: the JSON the CLI printed, kept for the TUI."""

    __tablename__ = "attribution_reports"
    __table_args__ = (Index("ix_attribution_reports_prompt", "prompt", "created_at"),)
    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=20)             # attribution | bisect
    prompt: str = Field(max_length=100)
    before_pairing: str = Field(foreign_key="pairings.id", max_length=12)
    after_pairing: str = Field(foreign_key="pairings.id", max_length=12)
    suite: str = Field(max_length=300)
    report: dict[str, Any] = _json()
    actor: str = Field(max_length=200)
    created_at: datetime


for _table in CHAINED_TABLES:  # the chain's order, and its head found without a scan
    Index(f"uq_{_table}_chain_seq", SQLModel.metadata.tables[_table].c.chain_seq, unique=True)
