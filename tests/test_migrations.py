"""Alembic is the only way the schema is made: it must match the models and run both ways."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from movierec.db.migrate import current_revision, downgrade, head_revision, upgrade
from movierec.db.models import Base


def test_migrated_schema_matches_the_models(session_db) -> None:  # type: ignore[no-untyped-def]
    with session_db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert current_revision(session_db.engine) == head_revision(session_db.url)


def test_sqlite_schema_downgrades_and_upgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    assert {"users", "movies", "ratings"} <= set(inspect(engine).get_table_names())
    downgrade(url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    assert current_revision(engine) == head_revision(url)
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_indexes_serve_the_api_queries(session_db) -> None:  # type: ignore[no-untyped-def]
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(session_db.engine).get_indexes("ratings")
    }
    assert indexes["ix_ratings_user_top"] == ["user_id", "rating", "ts"]
    assert indexes["ix_ratings_movie_rating"] == ["movie_id", "rating"]


def test_sqlite_rebuild_keeps_data_and_never_reuses_user_ids(tmp_path, small_movielens) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from movierec.data.load import load_movielens
    from movierec.db import Database

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    upgrade(url)
    database = Database(url)
    report = load_movielens(database, str(small_movielens), show_progress=False)
    # Down to before 0003's rebuild and up again: every migration of the way keeps the rows.
    downgrade(url, "0002")
    upgrade(url)
    with database.engine.begin() as connection:
        count = connection.execute(text("SELECT COUNT(*) FROM ratings")).scalar_one()
        assert count == report.totals["ratings"]
        newest = connection.execute(text("INSERT INTO users DEFAULT VALUES RETURNING user_id"))
        newest_id = newest.scalar_one()
        connection.execute(text("DELETE FROM users WHERE user_id = :id"), {"id": newest_id})
        again = connection.execute(text("INSERT INTO users DEFAULT VALUES RETURNING user_id"))
        assert again.scalar_one() == newest_id + 1
    database.dispose()
