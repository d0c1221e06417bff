"""Ranking evaluations: the latest figures of ``movierec model evaluate --ranking`` on the
database's ratings, for operators.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ranking_evaluations",
        sa.Column("evaluation_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("n_ratings", sa.Integer(), nullable=False),
        sa.Column("n_users", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("evaluation_id", name="pk_ranking_evaluations"),
    )
    op.create_index("ix_ranking_evaluations_evaluated_at", "ranking_evaluations", ["evaluated_at"])


def downgrade() -> None:
    op.drop_index("ix_ranking_evaluations_evaluated_at", table_name="ranking_evaluations")
    op.drop_table("ranking_evaluations")
