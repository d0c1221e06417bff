"""Model runs: one row per recommendations refresh.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_runs",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("n_users", sa.Integer()),
        sa.Column("n_movies", sa.Integer()),
        sa.Column("n_ratings", sa.Integer()),
        sa.Column("load_seconds", sa.Float()),
        sa.Column("fit_seconds", sa.Float()),
        sa.Column("score_seconds", sa.Float()),
        sa.Column("publish_seconds", sa.Float()),
        sa.Column("train_rmse", sa.Float()),
        sa.Column("error", sa.Text()),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.PrimaryKeyConstraint("version", name="pk_model_runs"),
    )
    op.create_index("ix_model_runs_started_at", "model_runs", ["started_at"])


def downgrade() -> None:
    op.drop_table("model_runs")
