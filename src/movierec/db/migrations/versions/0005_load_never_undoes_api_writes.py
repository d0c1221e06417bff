"""Loads never undo API writes: ratings.from_load, tombstones of deleted users and ratings.

A rating remembers whether a load wrote it (and the API has not changed it since); deleted users
and ratings leave tombstones that the loader honours. Ratings that exist before this revision are
marked as not written by a load (there is no way to tell), so a re-load updates them only with
``--overwrite``: the safe side.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "ratings",
        sa.Column("from_load", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "deleted_users",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "deleted_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_deleted_users"),
    )
    op.create_table(
        "deleted_ratings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column(
            "deleted_at", UTCDateTime(), nullable=False, server_default=sa.func.current_timestamp()
        ),
        sa.PrimaryKeyConstraint("user_id", "movie_id", name="pk_deleted_ratings"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_deleted_ratings_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.movie_id"],
            name="fk_deleted_ratings_movie_id_movies",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("deleted_ratings")
    op.drop_table("deleted_users")
    # A plain DROP COLUMN (SQLite 3.35+): no table rebuild, which could lose the CHECK.
    op.drop_column("ratings", "from_load")
