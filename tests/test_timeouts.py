"""The web tier does not queue behind a lock or an exhausted pool: a
statement past DB_STATEMENT_TIMEOUT_MS, or a wait for a connection past
DB_POOL_TIMEOUT_SECONDS, is a 503 JSON with Retry-After; the refresh jobs have no statement
timeout; liveness never waits for the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from conftest import make_test_app
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.scheduler import EngineJobs

HELD_SECONDS = 8


@pytest.fixture
def web(settings: Settings, loaded_db: Database) -> Iterator[Flask]:
    yield from make_test_app(
        settings.model_copy(update={"db_statement_timeout_ms": 300, "db_pool_timeout_seconds": 0.3})
    )


@contextmanager
def ratings_locked(settings: Settings) -> Iterator[None]:
    """Another client holds the ratings table (LOCK TABLE) for HELD_SECONDS at most."""
    engine = create_engine(settings.database_url)
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.connect() as connection:
            connection.execute(text("BEGIN"))
            connection.execute(text("LOCK TABLE ratings IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            done.wait(HELD_SECONDS)
            connection.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        yield
    finally:
        done.set()
        holder.join()
        engine.dispose()


def _timed(call) -> tuple[object, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _assert_timed_out(response, seconds: float) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.get_json()
    assert response.get_json() == {
        "error": {
            "status": 503,
            "message": "service unavailable: the database did not answer in time",
        }
    }
    assert response.headers["Retry-After"].isdigit()
    assert seconds < 3, f"answered after {seconds:.1f}s, the lock was held {HELD_SECONDS}s"


def test_a_statement_blocked_by_a_lock_is_a_quick_503(web: Flask, settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("statement_timeout is PostgreSQL's; SQLite writers queue (busy timeout)")
    client = web.test_client()
    with ratings_locked(settings):
        response, seconds = _timed(
            lambda: client.put("/api/v1/user/3/rating", json={"movie_id": 10, "rating": 4})
        )
        _assert_timed_out(response, seconds)
        live, seconds = _timed(lambda: client.get("/health/live"))
        assert live.status_code == 200 and seconds < 1  # liveness does not touch the database
    # Once the lock is gone the same request works.
    assert (
        client.put("/api/v1/user/3/rating", json={"movie_id": 10, "rating": 4}).status_code == 200
    )


def test_a_read_blocked_by_a_lock_is_a_quick_503(web: Flask, settings: Settings) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("SQLite readers are not blocked by a writer (WAL)")
    client = web.test_client()
    with ratings_locked(settings):
        response, seconds = _timed(lambda: client.get("/api/v1/user/3/ratings/top"))
        _assert_timed_out(response, seconds)


def test_an_exhausted_pool_is_a_quick_503(web: Flask) -> None:
    client = web.test_client()
    engine = web.extensions["movierec.db"].engine
    held = []
    try:
        while True:  # every pooled and overflow connection, as stuck requests would hold them
            try:
                held.append(engine.connect())
            except Exception:
                break
        assert len(held) == 15
        response, seconds = _timed(lambda: client.get("/api/v1/user/3"))
        _assert_timed_out(response, seconds)
    finally:
        for connection in held:
            connection.close()
    assert client.get("/api/v1/user/3").status_code == 200


def test_the_refresh_jobs_have_no_statement_timeout(settings: Settings, web: Flask) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("statement_timeout is PostgreSQL's")
    with web.extensions["movierec.db"].engine.connect() as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "300ms"
    jobs = EngineJobs(settings.model_copy(update={"db_statement_timeout_ms": 300}))
    try:
        with jobs.db.engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar_one() == "0"
            connection.execute(text("SELECT pg_sleep(0.5)"))  # longer than the web tier's limit
    finally:
        jobs.close()
