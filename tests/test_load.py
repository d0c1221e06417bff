"""Loading MovieLens into the database: counts, idempotency, atomicity, user ids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import text

from conftest import ML_SMALL_ZIP, TMDB_SAMPLE, requires_movielens
from movierec.cli import main
from movierec.config import Settings
from movierec.data import DataError
from movierec.data.load import LoadReport, load_movielens
from movierec.db import Database
from movierec.db.models import User


def snapshot(db: Database) -> dict[str, pd.DataFrame]:
    """Every row of every table, in a stable order, for before/after comparisons."""
    with db.engine.connect() as connection:
        return {
            table: pd.read_sql(text(f"SELECT * FROM {table} ORDER BY {order}"), connection)
            for table, order in (
                ("users", "user_id"),
                ("movies", "movie_id"),
                ("ratings", "user_id, movie_id"),
            )
        }


def test_load_reports_counts_that_match_the_files(db: Database, small_movielens: Path) -> None:
    ratings = pd.read_csv(small_movielens / "ratings.csv")
    report = load_movielens(db, str(small_movielens), show_progress=False)
    expected = {
        "users": ratings["userId"].nunique(),
        "movies": len(pd.read_csv(small_movielens / "movies.csv")),
        "ratings": len(ratings),
    }
    assert report.read == expected
    assert report.totals == expected
    stored = snapshot(db)["ratings"]
    first = ratings.iloc[0]
    row = stored[(stored.user_id == first.userId) & (stored.movie_id == first.movieId)].iloc[0]
    assert row.rating == first.rating
    assert not row.is_implicit


def test_loading_twice_leaves_the_same_rows(db: Database, small_movielens: Path) -> None:
    load_movielens(db, str(small_movielens), show_progress=False)
    before = snapshot(db)
    load_movielens(db, str(small_movielens), show_progress=False)
    after = snapshot(db)
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])


def test_reload_keeps_users_and_ratings_made_since(db: Database, small_movielens: Path) -> None:
    load_movielens(db, str(small_movielens), show_progress=False)
    highest = int(pd.read_csv(small_movielens / "ratings.csv")["userId"].max())
    with db.session() as session:
        user = User(gender="F", year_of_birth=1990)
        session.add(user)
        session.flush()
        new_id = user.user_id
    # New users continue after the highest loaded id, on every engine.
    assert new_id == highest + 1
    load_movielens(db, str(small_movielens), show_progress=False)
    users = snapshot(db)["users"].set_index("user_id")
    assert users.loc[new_id, "gender"] == "F"


def test_reload_never_hands_out_a_deleted_users_id_again(
    db: Database, small_movielens: Path
) -> None:
    load_movielens(db, str(small_movielens), show_progress=False)
    with db.session() as session:
        user = User()
        session.add(user)
        session.flush()
        deleted_id = user.user_id
        session.delete(user)
    load_movielens(db, str(small_movielens), show_progress=False)
    with db.session() as session:
        user = User()
        session.add(user)
        session.flush()
        assert user.user_id == deleted_id + 1


def test_bad_input_leaves_the_database_as_it_was(
    tmp_path: Path, db: Database, small_movielens: Path
) -> None:
    load_movielens(db, str(small_movielens), show_progress=False)
    before = snapshot(db)
    broken = tmp_path / "broken"
    shutil.copytree(small_movielens, broken)
    lines = (broken / "ratings.csv").read_text().splitlines()
    # Change a valid rating and break a later line: nothing of the file may land.
    lines[1] = ",".join([*lines[1].split(",")[:2], "0.5", lines[1].split(",")[3]])
    lines[40] = "1,10,abc,1500000000"
    (broken / "ratings.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"ratings\.csv:41: column rating"):
        load_movielens(db, str(broken), show_progress=False)
    after = snapshot(db)
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])


def test_cli_load_error_is_one_line_and_nonzero(settings: Settings, db: Database) -> None:
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    result = CliRunner().invoke(main, ["data", "load", "--source", "/no/such/dir"], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: /no/such/dir: no such file or directory"


def test_cli_reports_unreachable_database(tmp_path: Path, small_movielens: Path) -> None:
    env = {"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/none"}
    result = CliRunner().invoke(main, ["data", "load", "--source", str(small_movielens)], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("Error: database unavailable: connection failed")
    assert "Traceback" not in result.output


@requires_movielens(metadata=True)
@pytest.mark.movielens
def test_cli_loads_ml_latest_small_zip_with_metadata(settings: Settings, db: Database) -> None:
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    args = ["data", "load", "--source", str(ML_SMALL_ZIP), "--metadata", str(TMDB_SAMPLE)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "now holds 610 users, 9,742 movies, 100,836 ratings" in result.output
    with db.engine.connect() as connection:
        movie = connection.execute(
            text("SELECT title, year, genres, description FROM movies WHERE movie_id = 1193")
        ).one()
    assert movie.title == "One Flew Over the Cuckoo's Nest"
    assert movie.year == 1975
    assert movie.genres == "Drama"
    assert movie.description and "McMurphy" in movie.description


def test_first_load_leaves_the_schema_and_its_checks_as_migrated(
    db: Database, small_movielens: Path
) -> None:
    """The first load into an empty table builds indexes and checks foreign keys once at the
    end (PostgreSQL); afterwards the schema must be exactly the migrated one, and enforced."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect
    from sqlalchemy.exc import IntegrityError

    from movierec.db.models import Base

    load_movielens(db, str(small_movielens), show_progress=False)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    names = {index["name"] for index in inspect(db.engine).get_indexes("ratings")}
    assert {"ix_ratings_user_top", "ix_ratings_user_latest", "ix_ratings_movie_rating"} <= names
    with pytest.raises(IntegrityError), db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ratings (user_id, movie_id, rating, is_implicit, ts) "
                "VALUES (1, 999999, 4.0, false, CURRENT_TIMESTAMP)"
            )
        )


# -- a re-load never undoes API writes ---------------------------------------------------------


def stored_rating(db: Database, user_id: int, movie_id: int) -> float | None:
    with db.engine.connect() as connection:
        return connection.execute(
            text("SELECT rating FROM ratings WHERE user_id = :u AND movie_id = :m"),
            {"u": int(user_id), "m": int(movie_id)},
        ).scalar_one_or_none()


def file_ratings(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "ratings.csv")


def api_rate(client: FlaskClient, user_id: int, movie_id: int, rating: float) -> None:
    body = {"movie_id": int(movie_id), "rating": float(rating)}
    response = client.put(f"/api/v1/user/{user_id}/rating", json=body)
    assert response.status_code == 200, response.get_json()


def ratings_of(db: Database, user_id: int) -> int:
    with db.engine.connect() as connection:
        query = text("SELECT COUNT(*) FROM ratings WHERE user_id = :u")
        return connection.execute(query, {"u": user_id}).scalar_one()


def reload(db: Database, folder: Path, overwrite: bool = False) -> LoadReport:
    return load_movielens(db, str(folder), overwrite=overwrite, show_progress=False)


def test_reload_keeps_ratings_changed_through_the_api(
    client: FlaskClient, db: Database, small_movielens: Path
) -> None:
    reload(db, small_movielens)
    first, second = file_ratings(small_movielens).iloc[[0, 1]].itertuples()
    changed = 0.5 if first.rating != 0.5 else 5.0
    api_rate(client, first.userId, first.movieId, changed)
    # The same value as the file's, but given through the API: the API's row from now on.
    api_rate(client, second.userId, second.movieId, second.rating)

    report = reload(db, small_movielens)
    assert stored_rating(db, first.userId, first.movieId) == changed
    assert (report.merged["ratings"].updated, report.merged["ratings"].inserted) == (0, 0)

    # --overwrite: the file wins for every row it has, and those rows are the load's again.
    report = reload(db, small_movielens, overwrite=True)
    assert stored_rating(db, first.userId, first.movieId) == first.rating
    assert report.merged["ratings"].updated == 2
    assert reload(db, small_movielens).merged["ratings"].updated == 0


def test_reload_does_not_bring_back_a_deleted_rating(
    client: FlaskClient, db: Database, small_movielens: Path
) -> None:
    reload(db, small_movielens)
    row = next(file_ratings(small_movielens).iloc[[3]].itertuples())
    path = f"/api/v1/user/{row.userId}/rating"
    response = client.delete(path, json={"movie_id": int(row.movieId)})
    assert response.status_code == 200, response.get_json()
    for overwrite in (False, True):
        report = reload(db, small_movielens, overwrite=overwrite)
        assert stored_rating(db, row.userId, row.movieId) is None
        assert report.merged["ratings"].inserted == 0
        assert report.totals["ratings"] == len(file_ratings(small_movielens)) - 1
    # Rating it again through the API is the user's own choice, and a re-load keeps it.
    api_rate(client, row.userId, row.movieId, 1.0)
    reload(db, small_movielens)
    assert stored_rating(db, row.userId, row.movieId) == 1.0


def test_reload_does_not_bring_back_a_deleted_user(
    client: FlaskClient, db: Database, small_movielens: Path
) -> None:
    reload(db, small_movielens)
    assert ratings_of(db, 7) > 0
    assert client.delete("/api/v1/user/7").status_code == 200
    for overwrite in (False, True):
        report = reload(db, small_movielens, overwrite=overwrite)
        assert client.get("/api/v1/user/7").status_code == 404
        assert report.merged["users"].inserted == 0
        assert report.merged["ratings"].inserted == 0
        assert ratings_of(db, 7) == 0


def test_reload_updates_ratings_the_file_changed_that_the_api_did_not(
    tmp_path: Path, db: Database, small_movielens: Path
) -> None:
    load_movielens(db, str(small_movielens), show_progress=False)
    newer = tmp_path / "newer"
    shutil.copytree(small_movielens, newer)
    ratings = file_ratings(newer)
    ratings.loc[0, "rating"] = 0.5 if ratings.loc[0, "rating"] != 0.5 else 5.0
    extra = ratings.iloc[[0]].assign(movieId=int(ratings.movieId.max()))
    extra = extra[~extra.set_index(["userId", "movieId"]).index.isin(
        ratings.set_index(["userId", "movieId"]).index)]  # fmt: skip
    pd.concat([ratings, extra]).to_csv(newer / "ratings.csv", index=False)
    report = load_movielens(db, str(newer), show_progress=False)
    assert stored_rating(db, ratings.userId[0], ratings.movieId[0]) == ratings.rating[0]
    assert report.merged["ratings"].updated == 1
    assert report.merged["ratings"].inserted == len(extra)


def tmdb_overviews(small_movielens: Path, tmp_path: Path) -> Path:
    links = pd.read_csv(small_movielens / "links.csv").dropna(subset=["tmdbId"])
    path = tmp_path / "tmdb.csv"
    pd.DataFrame(
        {"id": links.tmdbId.astype(int), "overview": [f"About movie {m}" for m in links.movieId]}
    ).to_csv(path, index=False)
    return path


def described(db: Database) -> int:
    with db.engine.connect() as connection:
        query = "SELECT COUNT(*) FROM movies WHERE description IS NOT NULL"
        return connection.execute(text(query)).scalar_one()


def test_reload_without_metadata_keeps_the_descriptions(
    tmp_path: Path, settings: Settings, db: Database, small_movielens: Path
) -> None:
    metadata = tmdb_overviews(small_movielens, tmp_path)
    env = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    load = ["data", "load", "--source", str(small_movielens)]
    first = CliRunner().invoke(main, [*load, "--metadata", str(metadata)], env=env)
    assert first.exit_code == 0, first.output
    n_described = len(pd.read_csv(metadata))
    assert 0 < n_described == described(db)
    assert f"and {n_described:,} descriptions in" in first.output

    again = CliRunner().invoke(main, load, env=env)
    assert again.exit_code == 0, again.output
    assert described(db) == n_described
    assert "no descriptions (those stored are kept)" in again.output
    assert "updated 0 movies, 0 ratings" in again.output


# -- content, and the catalogue's API writes -------------------------------------------------


def _with_tags_and_metadata(folder: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``folder`` with tags.csv (in several cases, one movie tagged by many), and a
    TMDB-style file: overviews, collections, TMDB genres, keywords."""
    copy = tmp_path / "with-content"
    shutil.copytree(folder, copy)
    movies = pd.read_csv(copy / "movies.csv")
    links = pd.read_csv(copy / "links.csv")
    tmdb = links.dropna(subset=["tmdbId"]).head(2)
    first, second = (int(m) for m in tmdb.movieId)
    movies.loc[movies.movieId == second, "genres"] = "(no genres listed)"
    movies.to_csv(copy / "movies.csv", index=False)
    pd.DataFrame(
        {
            "userId": [1, 2, 3, 1],
            "movieId": [first, first, first, second],
            "tag": ["Space  Opera", "space opera", "robots", "Heist"],
            "timestamp": [1, 2, 3, 4],
        }
    ).to_csv(copy / "tags.csv", index=False)
    metadata = tmp_path / "meta.csv"
    pd.DataFrame(
        {
            "id": tmdb.tmdbId.astype(int),
            "overview": ["A saga in space.", "A quiet heist."],
            "belongs_to_collection": [
                "{'id': 10, 'name': 'Space Collection', 'poster_path': None}",
                "",
            ],
            "genres": [
                "[{'id': 878, 'name': 'Science Fiction'}]",
                "[{'id': 80, 'name': 'Crime'}, {'id': 10770, 'name': 'TV Movie'}]",
            ],
            "keywords": ["[{'id': 1, 'name': 'Robots'}, {'id': 2, 'name': 'galaxy'}]", ""],
        }
    ).to_csv(metadata, index=False)
    return copy, metadata


def movie_row(db: Database, movie_id: int) -> dict[str, object]:
    from movierec.db.repositories.movies import get_movie

    with db.session() as session:
        movie = get_movie(session, movie_id)
    assert movie is not None
    return {name: getattr(movie, name) for name in movie.__dataclass_fields__}


def test_tags_and_metadata_give_keywords_collections_and_missing_genres(
    db: Database, small_movielens: Path, tmp_path: Path
) -> None:
    folder, metadata = _with_tags_and_metadata(small_movielens, tmp_path)
    report = load_movielens(db, str(folder), metadata=metadata, show_progress=False)
    movies = pd.read_csv(folder / "movies.csv")
    links = pd.read_csv(folder / "links.csv").dropna(subset=["tmdbId"])
    first, second = (int(m) for m in links.movieId[:2])
    one, two = movie_row(db, first), movie_row(db, second)
    # Tags in any case and spacing are one keyword, the most applied first; then TMDB's.
    assert one["keywords"] == ["space opera", "robots", "galaxy"]
    assert one["collection"] == "Space Collection"
    assert one["description"] == "A saga in space."
    assert one["genres"] == movies.genres[movies.movieId == first].iloc[0]  # movies.csv's win
    assert two["genres"] == "Crime"  # none in movies.csv: TMDB's, as MovieLens names
    assert two["collection"] is None and two["keywords"] == ["heist"]
    assert report.collections == 1 and report.with_keywords == 2
    assert "(1 movies in a collection, 2 with keywords)" in report.summary()

    # Loaded again without tags or metadata: what is stored stays, nothing is written.
    (folder / "tags.csv").unlink()
    again = load_movielens(db, str(folder), show_progress=False)
    assert movie_row(db, first) == one
    assert again.merged["movies"].updated == 0


def test_a_reload_never_undoes_what_the_api_did_to_movies(
    db: Database, small_movielens: Path
) -> None:
    from datetime import UTC, datetime

    from movierec.db.repositories import movies as movies_repo

    load_movielens(db, str(small_movielens), show_progress=False)
    movies = pd.read_csv(small_movielens / "movies.csv")
    edited, retired, untouched = (int(m) for m in movies.movieId[:3])
    now = datetime.now(UTC)
    with db.session() as session:
        movies_repo.update_movie(session, edited, {"title": "Renamed", "keywords": ["mine"]}, now)
        movies_repo.retire_movie(session, retired, now)
        movies_repo.update_movie(session, untouched, {}, now)  # only stamped
        created = movies_repo.create_movie(session, {"title": "Brand new", "year": 2030}, now)
    with db.session() as session:
        movies_repo.update_movie(session, untouched, {}, now)
    assert created.movie_id > movies.movieId.max()

    report = load_movielens(db, str(small_movielens), show_progress=False)
    assert movie_row(db, edited)["title"] == "Renamed"
    assert movie_row(db, edited)["keywords"] == ["mine"]
    assert movie_row(db, retired)["retired"]
    assert movie_row(db, created.movie_id)["title"] == "Brand new"
    assert report.merged["movies"].updated == 0

    # --overwrite: the file's values again for loaded movies (still retired, still created).
    load_movielens(db, str(small_movielens), overwrite=True, show_progress=False)
    assert movie_row(db, edited)["title"] != "Renamed"
    assert movie_row(db, edited)["keywords"] == ["mine"]  # the file has none: kept
    assert movie_row(db, retired)["retired"]
    assert movie_row(db, created.movie_id)["title"] == "Brand new"
    with db.session() as session:
        newer = movies_repo.create_movie(session, {"title": "Newer"}, now)
    assert newer.movie_id == created.movie_id + 1


def test_a_data_set_that_reuses_a_created_movies_id_is_refused(
    db: Database, small_movielens: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from movierec.db.repositories import movies as movies_repo

    load_movielens(db, str(small_movielens), show_progress=False)
    with db.session() as session:
        created = movies_repo.create_movie(
            session, {"title": "Ours", "year": 2030}, datetime.now(UTC)
        )
    newer = tmp_path / "newer"
    shutil.copytree(small_movielens, newer)
    movies = pd.read_csv(newer / "movies.csv")
    extra = pd.DataFrame(
        {"movieId": [created.movie_id], "title": ["Theirs (2031)"], "genres": ["Drama"]}
    )
    pd.concat([movies, extra]).to_csv(newer / "movies.csv", index=False)
    before = snapshot(db)
    with pytest.raises(DataError, match=rf"movieId {created.movie_id} .*'Theirs'.*'Ours'"):
        load_movielens(db, str(newer), show_progress=False)
    for table, frame in snapshot(db).items():
        pd.testing.assert_frame_equal(before[table], frame)
