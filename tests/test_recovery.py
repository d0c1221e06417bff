"""The scheduler recovers by itself: it republishes within seconds
what a Redis restarted empty lost, releases the job lock of a refresh whose process was killed,
and marks that run abandoned instead of leaving it ``running`` forever."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import model_runs
from movierec.jobs.recovery import holder_is_dead, recover
from movierec.jobs.scheduler import start_background_scheduler


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"model_n_factors": 8, "model_n_epochs": 10, "scheduler_watchdog_seconds": 0.5}
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def scheduler_of(fast_settings: Settings) -> Iterator[Callable[[], None]]:
    started = []

    def start() -> None:
        started.append(start_background_scheduler(fast_settings))

    yield start
    for background in started:
        background.shutdown(wait=True)


def _both_published(cache: CacheStore) -> tuple[str, str] | None:
    recs, stats = cache.published_version("recs"), cache.published_version("stats")
    return (recs, stats) if recs and stats else None


def test_redis_restarted_empty_is_republished_within_seconds(
    loaded_db: Database, cache: CacheStore, scheduler_of: Callable[[], None]
) -> None:
    scheduler_of()
    first = wait_for(lambda: _both_published(cache), 60, "the first refresh")
    # Redis restarted empty: this test session's keys only (never the shared Redis as a whole).
    for key in cache.client.scan_iter(match=cache.key("*"), count=1000):
        cache.client.delete(key)
    started = time.monotonic()
    second = wait_for(lambda: _both_published(cache), 30, "the watchdog's republish")
    assert time.monotonic() - started < 30  # the schedule's next tick would be minutes away
    assert set(second).isdisjoint(first)  # new versions

    # "current" still names a version whose keys vanished (a partial restore, an eviction).
    recs, stats = second
    cache.client.delete(cache.key("stats", stats, "movies"), cache.key("stats", stats, "top"))
    assert cache.current_version("stats") == stats
    third = wait_for(
        lambda: (
            (cache.published_version("stats") or stats) != stats
            and cache.published_version("stats")
        ),
        30,
        "the republished statistics",
    )
    assert third != stats and cache.published_version("recs") == recs  # recs left as they were


def _running_rows(db: Database) -> list[tuple[str, str]]:
    with db.engine.connect() as connection:
        return [
            tuple(row) for row in connection.execute(text("SELECT version, status FROM model_runs"))
        ]


def _train_and_kill(settings: Settings, db: Database, tmp_path: Path) -> str:
    """A real `movierec train`, SIGKILLed mid-training; the version of its run."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "DATA_DIR": str(tmp_path),
        "MODEL_N_FACTORS": "8",
        "MODEL_N_EPOCHS": "100000",  # minutes of training: it is killed long before the end
    }
    command = [str(Path(sys.executable).with_name("movierec")), "train", "--no-progress"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        rows = wait_for(lambda: _running_rows(db) or process.poll() is not None, 60, "its run row")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()  # reaped: its PID is gone
    assert isinstance(rows, list) and [status for _, status in rows] == ["running"]
    return rows[0][0]


def test_a_killed_refresh_is_abandoned_and_its_lock_does_not_skip_the_next_start(
    loaded_db: Database,
    cache: CacheStore,
    settings: Settings,
    scheduler_of: Callable[[], None],
    tmp_path: Path,
) -> None:
    killed = _train_and_kill(settings, loaded_db, tmp_path)
    holder = cache.lock_holder("recommendations")
    assert holder and holder.startswith(f"{socket.gethostname()}:")  # still there, for up to 60 s
    scheduler_of()  # a restarted scheduler: its first run must not be skipped
    wait_for(lambda: cache.published_version("recs"), 30, "the restarted scheduler's first run")
    with loaded_db.session() as session:
        run = model_runs.get_run(session, killed)
        assert run is not None
        assert run.status == "abandoned" and run.finished_at is not None
        assert run.error and "is dead" in run.error
        served = model_runs.get_run(session, cache.current_version("recs") or "")
        assert served is not None and served.status == "succeeded"


def _insert_run(db: Database, version: str, started_at: datetime) -> None:
    with db.session() as session:
        model_runs.start_run(session, version, {"n_factors": 8}, started_at)


def _status(db: Database, version: str) -> str:
    with db.session() as session:
        run = model_runs.get_run(session, version)
        assert run is not None
        return run.status


def test_running_rows_are_abandoned_only_when_no_live_process_holds_the_lock(
    db: Database, cache: CacheStore
) -> None:
    now = datetime.now(UTC)
    _insert_run(db, "old", now - timedelta(minutes=5))  # its process (another host) died
    _insert_run(db, "new", now - timedelta(seconds=5))  # may be about to take the lock
    # A live holder (this process, in another thread): nothing is touched.
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with cache.hold_lock("recommendations"):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        recover(db, cache)
        assert (_status(db, "old"), _status(db, "new")) == ("running", "running")
        assert cache.lock_holder("recommendations")
    finally:
        release.set()
        holder.join()
    # Nobody holds it: runs older than the lock TTL are dead.
    recover(db, cache)
    assert (_status(db, "old"), _status(db, "new")) == ("abandoned", "running")


def test_holder_liveness() -> None:
    host = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert holder_is_dead(f"{host}:{finished.pid}:abcd1234")
    assert not holder_is_dead(f"{host}:{os.getppid()}:abcd1234")  # alive
    assert not holder_is_dead(f"elsewhere-{host}:{finished.pid}:abcd1234")  # cannot tell
    assert not holder_is_dead("garbage")
    # This very PID: a predecessor's only while nothing runs here yet (at start).
    assert not holder_is_dead(f"{host}:{os.getpid()}:abcd1234")
    assert holder_is_dead(f"{host}:{os.getpid()}:abcd1234", own_pid_is_dead=True)
