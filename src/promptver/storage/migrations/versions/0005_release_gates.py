"""label policies: ``require_suite``, a release gate. Moving the label to a pairing needs a passing,
complete run of that eval suite which evaluated the pairing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("label_policies", sa.Column("require_suite", sa.String(length=300), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("promptver migrations are append-only")
