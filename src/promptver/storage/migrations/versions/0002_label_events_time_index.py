"""label events: an index on (prompt, label, time) for "what did the label point at, at time T".

Without it that query walks a label's events backwards from the newest, so asking about an early
time of a label that moved 100,000 times took 64 ms; with it the query is one index probe.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_label_events_time", "label_events", ["prompt_id", "label", "created_at"])


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")
