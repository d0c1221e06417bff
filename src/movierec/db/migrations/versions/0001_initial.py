"""Users, movies and ratings.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from movierec.db.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("gender", sa.String(16)),
        sa.Column("year_of_birth", sa.Integer()),
        sa.Column(
            "created_at",
            UTCDateTime(),
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
    )
    op.create_table(
        "movies",
        sa.Column("movie_id", sa.Integer(), autoincrement=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("year", sa.Integer()),
        sa.Column("genres", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("imdb_id", sa.String(16)),
        sa.Column("tmdb_id", sa.Integer()),
        sa.PrimaryKeyConstraint("movie_id", name="pk_movies"),
    )
    op.create_table(
        "ratings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("is_implicit", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "movie_id", name="pk_ratings"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_ratings_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"], ["movies.movie_id"], name="fk_ratings_movie_id_movies", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "rating >= 0 AND rating <= 5 AND CAST(rating * 2 AS INTEGER) = rating * 2",
            name="ck_ratings_half_star",
        ),
    )
    op.create_index("ix_ratings_user_top", "ratings", ["user_id", "rating", "ts"])
    op.create_index("ix_ratings_user_latest", "ratings", ["user_id", "ts", "rating"])
    op.create_index("ix_ratings_movie_rating", "ratings", ["movie_id", "rating"])


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("movies")
    op.drop_table("users")
