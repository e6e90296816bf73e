"""attribution_reports: stored change-attribution and bisect reports (immutable, like everything).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from promptver.storage.guards import guard_ddl

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attribution_reports",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("prompt", sa.String(length=100), nullable=False),
        sa.Column("before_pairing", sa.String(length=12), nullable=False),
        sa.Column("after_pairing", sa.String(length=12), nullable=False),
        sa.Column("suite", sa.String(length=300), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["before_pairing"], ["pairings.id"]),
        sa.ForeignKeyConstraint(["after_pairing"], ["pairings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attribution_reports_prompt", "attribution_reports", ["prompt", "created_at"])
    for statement in guard_ddl("attribution_reports", op.get_bind().dialect.name, "id"):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")
