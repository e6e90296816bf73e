"""Eval provenance (decision 8): what a run is, which suite content it ran, every attempt of a call,
and release-gate pins and overrides.

- ``eval_runs.kind``: ``suite`` (a whole suite, as its file names it), ``attribution`` or ``bisect``
  (replays of chosen cells or cases). Only ``suite`` runs feed baselines, history and release gates.
  Existing runs are classified here: a run named by a stored attribution or bisect report, or one
  whose plan holds a case subset, is a replay.
- ``eval_runs.suite_content_hash``: the suite's content (dataset version, scorers with thresholds,
  repeats, min_pass_rate); a release gate pins it. NULL for runs made before: they satisfy no gate.
- ``eval_results.attempt``: ``--resume`` retries a call that ended in an error as a new row (attempt
  n + 1); a result is never changed. The unique key becomes (run, pairing, case, repeat, attempt).
- ``label_policies.require_suite_hash``: the suite content a gate pins.
- ``label_events.gate_override``: a release forced past a gate (``--force --reason``) keeps the
  refusal it overrode.

The guards stay on: the one data change (the kind of existing replays) lifts the update guard of
``eval_runs`` inside this migration's transaction only, and SQLite's table rebuild of
``eval_results`` re-creates its guards.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import json

import sqlalchemy as sa
from alembic import op

from promptver.storage.guards import guard_ddl, trigger_names

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_RESULT_COLUMNS = ("id, run_id, pairing_id, case_id, repeat, request_key, output, latency_ms, prompt_tokens, "
                   "completion_tokens, cost_usd, cached, error, error_kind, response_model, system_fingerprint, "
                   "created_at")


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.add_column("eval_runs", sa.Column("kind", sa.String(length=20), nullable=False, server_default="suite"))
    op.add_column("eval_runs", sa.Column("suite_content_hash", sa.String(length=64), nullable=True))
    op.add_column("label_policies", sa.Column("require_suite_hash", sa.String(length=64), nullable=True))
    op.add_column("label_events", sa.Column("gate_override", sa.Text(), nullable=True))
    _classify_replays(bind, dialect)
    if dialect == "sqlite":
        _rebuild_results_sqlite()
    else:
        op.drop_constraint("uq_eval_results_cell", "eval_results", type_="unique")
        op.add_column("eval_results", sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        op.create_unique_constraint("uq_eval_results_attempt", "eval_results",
                                    ["run_id", "pairing_id", "case_id", "repeat", "attempt"])


def _classify_replays(bind, dialect: str) -> None:
    kinds: dict[str, str] = {}
    for kind, report in bind.execute(sa.text("SELECT kind, report FROM attribution_reports")):
        data = report if isinstance(report, dict) else json.loads(report)
        for run_id in ([data.get("run")] if kind == "attribution" else list(data.get("runs") or [])):
            if run_id:
                kinds[run_id] = kind
    for run_id, plan in bind.execute(sa.text("SELECT id, plan FROM eval_runs")):
        data = plan if isinstance(plan, dict) else json.loads(plan)
        if run_id not in kinds and "cases" in (data.get("fingerprint") or {}):
            kinds[run_id] = "bisect"
    if not kinds:
        return
    if dialect == "sqlite":
        for name in trigger_names("eval_runs", dialect):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute(f"ALTER TABLE eval_runs DISABLE TRIGGER {trigger_names('eval_runs', dialect)[0]}")
    for run_id, kind in sorted(kinds.items()):
        bind.execute(sa.text("UPDATE eval_runs SET kind = :kind WHERE id = :id"), {"kind": kind, "id": run_id})
    if dialect == "sqlite":
        for statement in guard_ddl("eval_runs", dialect):
            op.execute(statement)
    else:
        op.execute(f"ALTER TABLE eval_runs ENABLE TRIGGER {trigger_names('eval_runs', dialect)[0]}")


def _rebuild_results_sqlite() -> None:
    """SQLite cannot drop a unique constraint: copy the table into one with the new key (foreign
    keys from eval_scores are checked at commit, when the new table carries the old name)."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    for name in trigger_names("eval_results", "sqlite"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.create_table(
        "eval_results_0008",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("pairing_id", sa.String(length=12), nullable=False),
        sa.Column("case_id", sa.String(length=200), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(length=20), nullable=True),
        sa.Column("response_model", sa.String(length=300), nullable=True),
        sa.Column("system_fingerprint", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["pairing_id"], ["pairings.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["eval_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "pairing_id", "case_id", "repeat", "attempt", name="uq_eval_results_attempt"),
    )
    op.execute(f"INSERT INTO eval_results_0008 ({_RESULT_COLUMNS}, attempt) SELECT {_RESULT_COLUMNS}, 0 "
               "FROM eval_results")
    op.execute("DROP TABLE eval_results")
    op.execute("ALTER TABLE eval_results_0008 RENAME TO eval_results")
    op.create_index("ix_eval_results_run_id", "eval_results", ["run_id"])
    op.create_index("ix_eval_results_pairing", "eval_results", ["pairing_id", "run_id"])
    for statement in guard_ddl("eval_results", "sqlite"):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")
