"""Model runs: which ranking model decided the lists, with its parameters and fit time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs from before the ranking model ranked by the SVD's estimate: say so.
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("ranker", sa.String(32), nullable=False, server_default="svd"))
        batch.add_column(sa.Column("ranker_params", sa.JSON()))
        batch.add_column(sa.Column("rank_fit_seconds", sa.Float()))


def downgrade() -> None:
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("rank_fit_seconds")
        batch.drop_column("ranker_params")
        batch.drop_column("ranker")
