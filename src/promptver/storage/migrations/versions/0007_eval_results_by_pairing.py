"""An index on eval_results by pairing: the release gate, the TUI's "latest eval result of this
pairing" and attribution look runs up by the pairing they evaluated.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_eval_results_pairing", "eval_results", ["pairing_id", "run_id"])


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")
