"""The per-process movie catalogue: movie details kept until a load announces a new
catalogue version, on both back ends."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from conftest import counted_queries
from movierec.cache import CacheStore
from movierec.cli import main
from movierec.config import Settings
from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories.movies import movies_by_ids
from movierec.services.catalogue import (
    CATALOGUE_CHECK_SECONDS,
    MovieCatalogue,
    announce_new_catalogue,
)
from movierec.services.errors import NotFound
from process_helpers import wait_until


def _retitled_copy(source: Path, folder: Path, movie_id: int, title: str) -> Path:
    shutil.copytree(source, folder)
    movies = pd.read_csv(folder / "movies.csv")
    movies.loc[movies["movieId"] == movie_id, "title"] = title
    movies.to_csv(folder / "movies.csv", index=False)
    return folder


def _load_command(settings: Settings, source: Path, redis_url: str | None = None):  # type: ignore[no-untyped-def]
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": redis_url or settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "LOG_LEVEL": "WARNING",
    }
    return CliRunner().invoke(main, ["data", "load", "--source", str(source)], env=env)


def test_the_api_serves_movie_details_kept_until_a_load_announces_new_ones(
    client, settings: Settings, loaded_db: Database, small_movielens: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/movie/30").get_json()["title"] == "Movie 30"
    retitled = _retitled_copy(small_movielens, tmp_path / "v2", 30, "Renamed Movie (1952)")

    # Rows changed behind the catalogue's back (not through `movierec data load`): the
    # process keeps serving what it holds, so the copy is really used.
    load_movielens(loaded_db, str(retitled), show_progress=False)
    assert client.get("/api/v1/movie/30").get_json()["title"] == "Movie 30"

    # The product's loader announces the change: within a second (CATALOGUE_CHECK_SECONDS)
    # every process drops what it kept.
    result = _load_command(settings, retitled)
    assert result.exit_code == 0, result.output

    def renamed() -> bool:
        return client.get("/api/v1/movie/30").get_json()["title"] == "Renamed Movie"

    wait_until(renamed, 2 * CATALOGUE_CHECK_SECONDS + 1, "the announced catalogue", 0.05)
    assert client.get("/api/v1/movie/30").get_json() == {
        "movie_id": 30,
        "title": "Renamed Movie",
        "year": 1952,
        "genres": "Action|Adventure",
        "description": None,
        "collection": None,
        "keywords": None,
        "retired": False,
        "new": None,
    }


def test_a_load_without_redis_still_loads_and_warns(
    settings: Settings, db: Database, small_movielens: Path
) -> None:
    result = _load_command(settings, small_movielens, redis_url="redis://127.0.0.1:9/0")
    assert result.exit_code == 0, result.output
    assert "the database now holds" in result.output
    warning = result.output.strip().splitlines()[-1]
    assert warning.startswith("warning: could not announce the new catalogue in Redis (")
    assert "until the next load" in warning


def test_catalogue_answers_like_the_repository_from_one_read_of_the_whole_catalogue(
    loaded_db: Database, cache: CacheStore
) -> None:
    catalogue = MovieCatalogue(loaded_db, cache)
    ids = [30, 10, 35, 30, 999_999, 1200]
    with loaded_db.session() as session:
        expected = movies_by_ids(session, ids)
    assert set(expected) == {10, 30, 1200}
    with counted_queries(loaded_db) as statements:
        assert catalogue.movies_by_ids(ids) == expected
    assert len(statements) == 1  # every movie, at once
    with counted_queries(loaded_db) as statements:
        assert catalogue.movies_by_ids(ids) == expected
        assert catalogue.movies_by_ids(np.array([1200, 10])) == {m: expected[m] for m in (1200, 10)}
        assert catalogue.movies_by_ids([]) == {}
        assert catalogue.get_movie(10) == expected[10]
        with pytest.raises(NotFound, match="movie 35 not found"):
            catalogue.get_movie(35)
    assert statements == []  # unknown ids included: the catalogue is all there is
    with loaded_db.session() as session:
        assert len(catalogue._movies or {}) == session.query(Movie).count()


def test_concurrent_first_look_ups_read_the_catalogue_once(
    loaded_db: Database, cache: CacheStore
) -> None:
    catalogue = MovieCatalogue(loaded_db, cache)
    with counted_queries(loaded_db) as statements, ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda m: catalogue.get_movie(m).movie_id, [10, 20, 30] * 8))
    assert found == [10, 20, 30] * 8
    assert len(statements) == 1


def test_catalogue_without_redis_reads_the_database_and_keeps_nothing(
    settings: Settings, loaded_db: Database, cache: CacheStore
) -> None:
    catalogue = MovieCatalogue(loaded_db, cache, check_seconds=0)  # the version every time
    assert catalogue.get_movie(30).title == "Movie 30"
    catalogue.cache = CacheStore("redis://127.0.0.1:9/0", settings.redis_key_prefix)
    with counted_queries(loaded_db) as statements:
        assert catalogue.get_movie(30).title == "Movie 30"  # no 503: details need no Redis
        assert catalogue.get_movie(30).title == "Movie 30"
    # A load may have happened meanwhile: nothing kept is trusted, each look-up asks.
    assert len(statements) == 2
    assert catalogue._movies is None
    catalogue.cache = cache
    assert catalogue.get_movie(20).title.startswith("Movie 20")
    with counted_queries(loaded_db) as statements:
        catalogue.get_movie(20)
    assert statements == []  # Redis is back: kept again


def test_a_lost_catalogue_version_drops_what_was_kept(
    loaded_db: Database, cache: CacheStore
) -> None:
    catalogue = MovieCatalogue(loaded_db, cache, check_seconds=0)
    catalogue.get_movie(30)
    first = cache.catalogue_version()
    cache.client.delete(cache.key("catalogue", "version"))  # e.g. Redis restarted empty
    with counted_queries(loaded_db) as statements:
        catalogue.get_movie(10)
    assert cache.catalogue_version() != first
    assert len(statements) == 1  # the catalogue read again under the new version


def test_recommendations_and_top_movies_take_movie_details_from_the_catalogue(
    client, refreshed: Database, cache: CacheStore
) -> None:  # type: ignore[no-untyped-def]
    top = client.get("/api/v1/movies/top?limit=5").get_json()
    movie = top["top_movies"][0]["movie"]
    user_id = client.put("/api/v1/user", json={"gender": "F"}).get_json()["user_id"]
    path = f"/api/v1/user/{user_id}/recommendations?limit=5"
    recommended = client.get(path).get_json()["recommendations"]
    assert movie in [{k: r[k] for k in movie} for r in recommended]  # cold start: the top

    def titles() -> tuple[str, str]:
        top_title = client.get("/api/v1/movies/top?limit=5").get_json()["top_movies"][0]
        first = next(r for r in client.get(path).get_json()["recommendations"]
                     if r["movie_id"] == movie["movie_id"])  # fmt: skip
        return top_title["movie"]["title"], first["title"]

    # Changed behind the catalogue's back: both answers keep what the process holds.
    with refreshed.session() as session:
        session.execute(
            update(Movie).where(Movie.movie_id == movie["movie_id"]).values(title="Renamed")
        )
    assert titles() == (movie["title"], movie["title"])
    # A load announces a new catalogue: both answers read the new details.
    assert announce_new_catalogue(cache) is None
    assert titles() == ("Renamed", "Renamed")


def test_the_version_is_trusted_for_the_check_interval_unless_a_caller_read_a_newer_one(
    loaded_db: Database, cache: CacheStore
) -> None:
    catalogue = MovieCatalogue(loaded_db, cache, check_seconds=3600)
    catalogue.get_movie(30)
    kept = catalogue._version
    new = cache.new_catalogue_version()  # a load announced a new catalogue
    with counted_queries(loaded_db) as statements:
        catalogue.get_movie(10)  # within the interval: no Redis read, the copy is kept
    assert catalogue._version == kept and statements == []
    with counted_queries(loaded_db) as statements:
        catalogue.movies_by_ids([10], new)  # read along with something else: counts at once
    assert catalogue._version == new and len(statements) == 1
    catalogue.check_seconds = 0  # the interval is over
    newer = cache.new_catalogue_version()
    with counted_queries(loaded_db) as statements:
        catalogue.get_movie(20)
    assert catalogue._version == newer and len(statements) == 1


def test_a_catalogue_read_while_a_newer_version_was_announced_is_not_kept(
    loaded_db: Database, cache: CacheStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec.db.repositories import movies as movies_repo

    catalogue = MovieCatalogue(loaded_db, cache, check_seconds=3600)
    read_all = movies_repo.all_movies

    def announced_during_the_read(session):  # type: ignore[no-untyped-def]
        movies = read_all(session)
        # Meanwhile a load commits and announces, and another request reads the new version
        # (its look-up then waits for this read to end).
        catalogue._current_version(cache.new_catalogue_version())
        return movies

    monkeypatch.setattr(movies_repo, "all_movies", announced_during_the_read)
    assert catalogue.get_movie(30).title == "Movie 30"  # this request is still answered
    monkeypatch.setattr(movies_repo, "all_movies", read_all)
    with counted_queries(loaded_db) as statements:
        catalogue.get_movie(30)
    assert len(statements) == 1  # the rows read under the old version were not kept


def test_a_movie_created_by_another_process_is_found_at_once(
    loaded_db: Database, cache: CacheStore
) -> None:
    # Two web workers: this one has just read the catalogue and trusts its version for a
    # second; the other creates a movie, and the page it redirects to asks this one for it.
    from movierec.services.catalogue_edits import create_movie

    here, there = MovieCatalogue(loaded_db, cache), MovieCatalogue(loaded_db, cache)
    assert here.get_movie(10).movie_id == 10
    created = create_movie(loaded_db, cache, there, {"title": "Made A Moment Ago", "year": 2026})
    assert here.get_movie(created.movie_id).title == "Made A Moment Ago"
    # An id nobody created still costs no query: the version did not change again.
    with counted_queries(loaded_db) as statements, pytest.raises(NotFound):
        here.get_movie(999_999)
    assert statements == []
