"""A drain killed with SIGKILL loses and doubles nothing: a real process is killed inside a drain
transaction (deterministically, through the drain's batch hook), and a real ``movierec
scheduler`` is killed while it drains a backlog; the next drain then writes exactly what was
left, once (PostgreSQL + Redis and the embedded stack)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from movierec.cache import CacheStore
from movierec.cache.impressions import Click, ImpressionStream, Shown
from movierec.cache.store import MovieStat
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import impressions as impressions_repo
from movierec.jobs.impressions import IMPRESSIONS_JOB, drain
from movierec.services.impressions import fingerprint
from process_helpers import wait_until

pytestmark = pytest.mark.slow

ANSWERS, CLICKS, OUTCOMES = 3000, 600, 300
BATCH = 100

# The drain in a process of its own, stopped inside its third transaction (rows written, the
# stream position moved, nothing committed) until the test kills it.
KILLED_DRAIN = """
import sys, time
from movierec.cache import CacheStore
from movierec.config import load_settings
from movierec.db import Database
from movierec.jobs.impressions import drain

settings = load_settings()
batches = []

def hook(entries):
    batches.append(len(entries))
    if len(batches) == 3:
        print("inside the third transaction", flush=True)
        time.sleep(600)

drain(Database(settings.database_url), CacheStore.from_settings(settings), settings,
      batch_hook=hook)
print("finished without being killed", flush=True)
"""


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "IMPRESSIONS_DRAIN_BATCH": str(BATCH),
        "LOG_LEVEL": "INFO",
        "SCHEDULER_METRICS_PORT": "0",
    }


def _backlog(db: Database, cache: CacheStore) -> None:
    """ANSWERS distinct answers and CLICKS clicks waiting in the stream, OUTCOMES ratings
    waiting for attribution, for the 60 users of the small data set."""
    now = time.time() - 60  # settled: the drain attributes everything
    entries: list[tuple[float, Shown | Click]] = []
    for n in range(ANSWERS):
        user, movies = 1 + n % 60, [10 * (1 + (n + k) % 120) for k in range(5)]
        value = fingerprint(user, "puresvd", n, movies)  # the page (n) makes each distinct
        shown = Shown(user, tuple(movies), n, "model", "puresvd", "puresvd", None, "v", value)
        entries.append((now + n * 0.001, shown))
        if n < CLICKS:
            entries.append((now + n * 0.001 + 0.0005, Click(user, movies[0], None)))
    stream = ImpressionStream(cache)
    for first in range(0, len(entries), 1000):
        stream.append(entries[first : first + 1000])
    with db.session() as session:
        for n in range(OUTCOMES):
            at = datetime.fromtimestamp(now + 30, UTC) + timedelta(microseconds=n)
            impressions_repo.add_outcome(session, 1 + n % 60, 10 * (1 + n % 120), "rated", at, 4.0)


def _count(db: Database, sql: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def _assert_everything_once(db: Database, cache: CacheStore) -> None:
    assert _count(db, "SELECT COUNT(*) FROM impressions") == ANSWERS
    assert _count(db, "SELECT COUNT(DISTINCT stream_id) FROM impressions") == ANSWERS
    assert _count(db, "SELECT COUNT(DISTINCT fingerprint) FROM impressions") == ANSWERS
    assert _count(db, "SELECT COUNT(*) FROM impression_outcomes WHERE kind = 'clicked'") == CLICKS
    assert _count(db, "SELECT COUNT(*) FROM impression_outcomes") == CLICKS + OUTCOMES
    # Every outcome attributed once (an UPDATE of its own row: it cannot be doubled).
    assert _count(db, "SELECT COUNT(*) FROM impression_outcomes WHERE attributed_at IS NULL") == 0
    assert _count(db, "SELECT COUNT(*) FROM impression_outcomes WHERE impression_id IS NULL") == 0
    assert ImpressionStream(cache).length() == 0


def test_a_drain_killed_inside_its_transaction_loses_and_doubles_nothing(
    settings: Settings, loaded_db: Database, cache: CacheStore, tmp_path: Path
) -> None:
    _backlog(loaded_db, cache)
    log_path = tmp_path / "drain.log"
    with log_path.open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_DRAIN],
            env=_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "inside the third transaction" in log_path.read_text() or child.poll(),
            timeout=120,
            what="the drain to reach its third transaction",
        )
        assert child.poll() is None, log_path.read_text()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    # Two batches committed, the third left no trace: not a row, not the position.
    assert (
        _count(loaded_db, "SELECT COUNT(*) FROM impressions")
        + _count(loaded_db, "SELECT COUNT(*) FROM impression_outcomes WHERE kind = 'clicked'")
        == 2 * BATCH
    )
    stream = ImpressionStream(cache)
    with loaded_db.session() as session:
        position = impressions_repo.read_cursor(session, stream.key)
    assert stream.length() == ANSWERS + CLICKS - 2 * BATCH  # trimmed after each commit
    assert position is not None and stream.read_after(position, 1) == stream.read_after(None, 1)
    assert cache.lock_holder(IMPRESSIONS_JOB) is not None  # the dead drain's, for up to 60 s
    report = drain(loaded_db, cache, settings, settle_seconds=0)  # releases the dead lock
    assert report.read == ANSWERS + CLICKS - 2 * BATCH
    _assert_everything_once(loaded_db, cache)


def test_a_scheduler_killed_while_it_drains_loses_and_doubles_nothing(
    settings: Settings, loaded_db: Database, cache: CacheStore, tmp_path: Path
) -> None:
    # Something published, so the scheduler drains at once instead of training first.
    cache.publish_statistics([MovieStat(10, 5, 4.0)])
    cache.publish_recommendations([(1, [10, 20])])
    _backlog(loaded_db, cache)
    env = {**_environment(settings), "IMPRESSIONS_DRAIN_SECONDS": "0.2"}
    log_path = tmp_path / "scheduler.log"
    with log_path.open("w") as log:
        scheduler = subprocess.Popen(
            [str(Path(sys.executable).with_name("movierec")), "scheduler"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Killed once it has written part of the backlog, while it goes on writing the rest.
        wait_until(
            lambda: (
                _count(loaded_db, "SELECT COUNT(*) FROM impressions") >= ANSWERS // 4
                or scheduler.poll() is not None
            ),
            timeout=120,
            what="the scheduler to drain a quarter of the backlog",
            interval=0.02,
        )
        assert scheduler.poll() is None, log_path.read_text()
        scheduler.send_signal(signal.SIGKILL)
        assert scheduler.wait(timeout=30) == -signal.SIGKILL
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    written = _count(loaded_db, "SELECT COUNT(*) FROM impressions")
    assert ANSWERS // 4 <= written < ANSWERS, "killed too late to test anything"
    drain(loaded_db, cache, settings, settle_seconds=0)
    _assert_everything_once(loaded_db, cache)
