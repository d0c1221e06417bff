"""The refresh schedule: first-start runs, intervals, logging, the lock between schedulers,
and the ``movierec scheduler`` process itself."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from apscheduler.schedulers.background import BackgroundScheduler

from movierec.cache import CacheStore
from movierec.cache.locks import LockBusy
from movierec.cache.statistics import MovieStat
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.refresh import RecommendationsReport
from movierec.jobs.scheduler import EngineJobs, run_logged, schedule, start_background_scheduler


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 10})


def _planned(settings: Settings) -> dict[str, datetime]:
    jobs = EngineJobs(settings)
    scheduler = BackgroundScheduler(timezone=UTC)
    schedule(scheduler, jobs)
    scheduler.start(paused=True)  # computes the run times without running anything
    try:
        return {job.id: job.next_run_time for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
        jobs.close()


def test_first_start_runs_both_refreshes_at_once(cache: CacheStore, settings: Settings) -> None:
    planned = _planned(settings)
    now = datetime.now(UTC)
    assert set(planned) == {"recommendations", "statistics", "watchdog"}
    for job in ("recommendations", "statistics"):
        assert abs((planned[job] - now).total_seconds()) < 5


def test_published_results_wait_for_their_interval(cache: CacheStore, settings: Settings) -> None:
    cache.publish_recommendations([(1, [2, 3])])
    cache.publish_statistics([MovieStat(2, 1, None)])
    settings = settings.model_copy(
        update={"recommendations_refresh_minutes": 15, "statistics_refresh_minutes": 30}
    )
    planned = _planned(settings)
    now = datetime.now(UTC)
    assert abs((planned["recommendations"] - now) - timedelta(minutes=15)) < timedelta(seconds=5)
    assert abs((planned["statistics"] - now) - timedelta(minutes=30)) < timedelta(seconds=5)


def test_only_missing_results_are_refreshed_at_start(cache: CacheStore, settings: Settings) -> None:
    cache.publish_statistics([MovieStat(2, 1, None)])
    planned = _planned(settings)
    now = datetime.now(UTC)
    assert abs((planned["recommendations"] - now).total_seconds()) < 5
    assert (planned["statistics"] - now) > timedelta(minutes=1)


def test_run_logged_reports_success_skips_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="movierec.jobs.scheduler")
    report = RecommendationsReport(
        version="v1", n_users=3, n_movies=4, n_ratings=5, list_length=6, ranker="puresvd",
        load_seconds=0.1, fit_seconds=0.2, rank_fit_seconds=0.05, score_seconds=0.3,
        publish_seconds=0.4, train_rmse=0.9, total_seconds=1.0,
    )  # fmt: skip
    assert run_logged("recommendations", lambda: report) is report
    assert "recommendations refresh: done in" in caplog.text and "v1" in caplog.text

    def busy() -> RecommendationsReport:
        raise LockBusy("another recommendations job is running (lock x held by y)")

    assert run_logged("recommendations", busy) is None
    assert "skipped, another recommendations job is running" in caplog.text

    def broken() -> RecommendationsReport:
        raise RuntimeError("disk on fire")

    assert run_logged("statistics", broken) is None  # the schedule goes on
    failure = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure and failure[0].exc_info and "statistics refresh: failed" in failure[0].message


def test_background_scheduler_publishes_both_at_first_start(
    loaded_db: Database,
    cache: CacheStore,
    fast_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="movierec")
    background = start_background_scheduler(fast_settings)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            cache.current_version("recs") and cache.current_version("stats")
        ):
            time.sleep(0.1)
    finally:
        background.shutdown(wait=True)
    assert cache.current_version("recs") and cache.current_version("stats")
    assert cache.recommendation_users() == 60
    assert "recommendations refresh: done in" in caplog.text
    assert "statistics refresh: done in" in caplog.text


def test_two_schedulers_never_run_the_same_refresh_at_once(
    loaded_db: Database,
    cache: CacheStore,
    fast_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="movierec.jobs.scheduler")
    first, second = EngineJobs(fast_settings), EngineJobs(fast_settings)
    results: list[object] = []
    start = threading.Barrier(2)

    def run(jobs: EngineJobs) -> None:
        start.wait()
        results.append(jobs.recommendations())

    threads = [threading.Thread(target=run, args=(jobs,)) for jobs in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.close()
    second.close()
    assert sorted(result is None for result in results) == [False, True]
    assert "recommendations refresh: skipped, another recommendations job" in caplog.text


def _environment(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "DATA_DIR": str(tmp_path),
        "MODEL_N_FACTORS": "8",
        "MODEL_N_EPOCHS": "10",
        "LOG_LEVEL": "INFO",
        "SCHEDULER_METRICS_PORT": "0",  # off: parallel runs would compete for the default port
    }


def test_scheduler_command_refreshes_at_start_and_stops_on_sigterm(
    loaded_db: Database, cache: CacheStore, settings: Settings, tmp_path: Path
) -> None:
    command = [str(Path(sys.executable).with_name("movierec")), "scheduler"]
    log_file = tmp_path / "scheduler.log"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    env = {**_environment(settings, tmp_path), "SCHEDULER_METRICS_PORT": str(metrics_port)}
    with log_file.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while (
                time.monotonic() < deadline
                and process.poll() is None
                and not (cache.current_version("recs") and cache.current_version("stats"))
            ):
                time.sleep(0.2)
            time.sleep(0.5)
            # Its own metrics endpoint shows the refreshes it just ran.
            exposition = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    output = log_file.read_text()
    assert cache.current_version("recs") and cache.current_version("stats"), output
    assert code == 0, output
    assert "recommendations refresh: done in" in output
    assert "statistics refresh: done in" in output
    assert "scheduler stopped" in output
    for job in ("recommendations", "statistics"):
        assert f'movierec_refresh_runs_total{{job="{job}",outcome="success"}} 1.0' in exposition
    assert 'movierec_refresh_duration_seconds_count{job="recommendations",step="fit"} 1.0' in (
        exposition
    )
