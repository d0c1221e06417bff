"""Dismissed movies: what a user is not interested in ("not interested"), never recommended to
them again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dismissed_movies",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("dismissed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "movie_id", name="pk_dismissed_movies"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_dismissed_movies_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.movie_id"],
            name="fk_dismissed_movies_movie_id_movies",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("dismissed_movies")
