"""Impressions and their outcomes: what each recommendations answer showed, and the ratings,
watches, dismissals and clicks that followed, for online metrics and A/B experiments between
rankers; the drain's position in the Redis stream; the experiment a refresh trained.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from movierec.db.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOVIE_IDS = postgresql.ARRAY(sa.Integer()).with_variant(sa.JSON(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "impressions",
        sa.Column("impression_id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("shown_at", UTCDateTime(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ranker", sa.String(length=32), nullable=False),
        sa.Column("arm", sa.String(length=64), nullable=False),
        sa.Column("experiment", sa.String(length=64), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("first_rank", sa.Integer(), nullable=False),
        sa.Column("movie_ids", MOVIE_IDS, nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("impression_id", name="pk_impressions"),
        sa.UniqueConstraint("stream_id", name="uq_impressions_stream_id"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_impressions_user_id_users", ondelete="CASCADE"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_impressions_user_shown", "impressions", ["user_id", "shown_at"])
    op.create_index("ix_impressions_fingerprint_shown", "impressions", ["fingerprint", "shown_at"])
    op.create_index("ix_impressions_day", "impressions", ["day"])
    op.create_index("ix_impressions_shown_at", "impressions", ["shown_at"])

    op.create_table(
        "impression_outcomes",
        sa.Column("outcome_id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("fingerprint", sa.BigInteger(), nullable=True),
        sa.Column("impression_id", BIG_ID, nullable=True),
        sa.Column("attributed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("outcome_id", name="pk_impression_outcomes"),
        sa.UniqueConstraint("stream_id", name="uq_impression_outcomes_stream_id"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name="fk_impression_outcomes_user_id_users",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["movies.movie_id"],
            name="fk_impression_outcomes_movie_id_movies",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["impression_id"],
            ["impressions.impression_id"],
            name="fk_impression_outcomes_impression_id_impressions",
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_impression_outcomes_pending",
        "impression_outcomes",
        ["at"],
        postgresql_where=sa.text("attributed_at IS NULL"),
        sqlite_where=sa.text("attributed_at IS NULL"),
    )
    op.create_index("ix_impression_outcomes_impression", "impression_outcomes", ["impression_id"])
    op.create_index("ix_impression_outcomes_at", "impression_outcomes", ["at"])
    op.create_index("ix_impression_outcomes_user", "impression_outcomes", ["user_id"])

    op.create_table(
        "impression_drain",
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("last_id", sa.String(length=40), nullable=False),
        sa.Column("drained_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("stream", name="pk_impression_drain"),
    )
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("experiment", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("experiment")
    op.drop_table("impression_drain")
    op.drop_index("ix_impression_outcomes_user", table_name="impression_outcomes")
    op.drop_index("ix_impression_outcomes_at", table_name="impression_outcomes")
    op.drop_index("ix_impression_outcomes_impression", table_name="impression_outcomes")
    op.drop_index("ix_impression_outcomes_pending", table_name="impression_outcomes")
    op.drop_table("impression_outcomes")
    op.drop_index("ix_impressions_shown_at", table_name="impressions")
    op.drop_index("ix_impressions_day", table_name="impressions")
    op.drop_index("ix_impressions_fingerprint_shown", table_name="impressions")
    op.drop_index("ix_impressions_user_shown", table_name="impressions")
    op.drop_table("impressions")
