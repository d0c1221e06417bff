"""A living catalogue: movies created, changed and retired through the API, with the content
that places a movie before anyone has rated it.

movies gain ``collection`` (a franchise), ``keywords`` (a JSON list), ``created_at`` (created
through the API), ``edited_at`` (last changed through the API: a re-load leaves such a movie as
the API left it) and ``retired_at``; on PostgreSQL a sequence for new movies' ids, after the
highest id ever used. model_runs gain ``content_seconds`` and ``new_movies`` (the content
model's step of each refresh). Every movie there is before this revision was loaded (the API
could not write movies).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from movierec.db.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    keywords = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("movies") as batch:
        batch.add_column(sa.Column("collection", sa.Text(), nullable=True))
        batch.add_column(sa.Column("keywords", keywords, nullable=True))
        batch.add_column(sa.Column("created_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("edited_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("retired_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("content_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("new_movies", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("CREATE SEQUENCE movies_movie_id_seq"))
        op.execute(
            sa.text(
                "SELECT setval('movies_movie_id_seq', GREATEST(COALESCE(MAX(movie_id), 0), 1), "
                "MAX(movie_id) IS NOT NULL) FROM movies"
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP SEQUENCE movies_movie_id_seq"))
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("new_movies")
        batch.drop_column("content_seconds")
    with op.batch_alter_table("movies") as batch:
        for column in ("retired_at", "edited_at", "created_at", "keywords", "collection"):
            batch.drop_column(column)
