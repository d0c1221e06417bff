"""The refresh schedule: APScheduler running the two refresh jobs at their intervals.

It runs in its own process (``movierec scheduler``) and inside ``movierec demo``; never in the
web workers (``create_app`` does not start it), so N gunicorn workers do not mean N trainings.
Several schedulers may still run (one per host, say): the Redis job locks make each refresh
run once at a time, and a scheduler that finds the lock taken skips that run.

At start, ``movierec scheduler`` waits for the database (``jobs.waiting``), as it rides out
Redis being away, so a stack may start in any order.

A watchdog job (every SCHEDULER_WATCHDOG_SECONDS) runs a refresh at once when Redis lost what
was published (restarted empty, say); it also releases dead holders' locks and marks their runs
abandoned. The loss itself is met sooner by a guard thread (``PublicationGuard``): it waits on
the web tier's reports of a missing version and on its own Redis connection, which a restart
drops, and checks what is published the moment either happens, so lists are personalised again
seconds after the loss, not at the watchdog's next tick.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

import prometheus_client
import redis
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from movierec import metrics
from movierec.cache import CacheStore
from movierec.cache.connection import REDIS_UNAVAILABLE
from movierec.cache.locks import LockBusy
from movierec.cache.signals import MissingReports
from movierec.config import Settings
from movierec.db import Database
from movierec.jobs.recovery import recover
from movierec.jobs.refresh import (
    RECOMMENDATIONS_JOB,
    STATISTICS_JOB,
    RecommendationsReport,
    StatisticsReport,
    refresh_recommendations,
    refresh_statistics,
)
from movierec.jobs.waiting import FIRST_RETRY_SECONDS, BackOff, wait_for_database
from movierec.recommender.training import NothingToTrain

log = logging.getLogger(__name__)

Report = RecommendationsReport | StatisticsReport

WATCHDOG_JOB = "watchdog"
# (job id, Redis kind) of the two refreshes, statistics first: readers need them most.
REFRESHES = ((STATISTICS_JOB, "stats"), (RECOMMENDATIONS_JOB, "recs"))


def run_logged(job: str, refresh: Callable[[], Report]) -> Report | None:
    """Run one refresh, logging what it did and how long it took. Never raises: a failed run
    must not stop the schedule, and the previous version keeps serving."""
    started = time.perf_counter()
    log.info("%s refresh: starting", job)
    try:
        report = refresh()
    except LockBusy as busy:
        log.info("%s refresh: skipped, %s", job, busy)
        metrics.record_refresh(job, "busy", time.perf_counter() - started)
        return None
    except NothingToTrain as empty:
        log.info("%s refresh: skipped, %s", job, empty)
        metrics.record_refresh(job, "nothing_to_train", time.perf_counter() - started)
        return None
    except Exception:
        log.exception("%s refresh: failed after %.1fs", job, time.perf_counter() - started)
        metrics.record_refresh(job, "failed", time.perf_counter() - started)
        return None
    seconds = time.perf_counter() - started
    log.info("%s refresh: done in %.1fs: %s", job, seconds, report.summary())
    metrics.record_refresh(job, "success", seconds, step_seconds(report))
    return report


def step_seconds(report: Report) -> dict[str, float]:
    """The duration of each step of a refresh, as its report gives them."""
    if isinstance(report, RecommendationsReport):
        return {
            "load": report.load_seconds,
            "fit": report.fit_seconds,
            "score": report.score_seconds,
            "publish": report.publish_seconds,
            "total": report.total_seconds,
        }
    return {"total": report.seconds}


def start_metrics_server(port: int) -> WSGIServer | None:
    """Serve this process's Prometheus metrics on ``port`` (all interfaces) in a thread; None
    when the port is 0 (off) or cannot be bound: metrics must never stop the refreshes."""
    if port == 0:
        return None
    try:
        server, _thread = prometheus_client.start_http_server(port)
    except OSError as error:
        log.error("scheduler metrics: cannot listen on port %d (%s); serving none", port, error)
        return None
    log.info("scheduler metrics on http://0.0.0.0:%d/metrics", server.server_port)
    return server


class EngineJobs:
    """The two refreshes, with the database and Redis handles of the scheduler's process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.cache = CacheStore.from_settings(settings)
        # The refreshes running in this process now (the watchdog leaves them alone).
        self.running: set[str] = set()

    def _run(self, job: str, refresh: Callable[[], Report]) -> Report | None:
        self.running.add(job)
        try:
            return run_logged(job, refresh)
        finally:
            self.running.discard(job)

    def recommendations(self) -> Report | None:
        return self._run(
            RECOMMENDATIONS_JOB,
            lambda: refresh_recommendations(self.db, self.cache, self.settings),
        )

    def statistics(self) -> Report | None:
        return self._run(
            STATISTICS_JOB, lambda: refresh_statistics(self.db, self.cache, self.settings)
        )

    def published(self, kind: str) -> bool:
        """Whether Redis holds a complete version of ``kind`` ("recs" or "stats")."""
        try:
            return self.cache.published_version(kind) is not None
        except redis.RedisError as error:
            log.warning("cannot tell whether %s are published (%s): refreshing now", kind, error)
            return False

    def recover(self, *, at_start: bool = False) -> None:
        """Release dead holders' locks and mark their runs abandoned (never raises)."""
        try:
            recover(self.db, self.cache, at_start=at_start, running=self.running)
        except Exception as error:  # Redis or the database down: the next tick tries again
            log.warning("recovery check failed: %s: %s", type(error).__name__, error)

    def missing(self) -> list[str]:
        """The refreshes whose results Redis lacks and that nobody is running: the jobs to run
        now. [] when Redis does not answer (a refresh could not publish anyway)."""
        due = []
        try:
            for job, kind in REFRESHES:
                if job in self.running or self.cache.published_version(kind) is not None:
                    continue
                if self.cache.lock_holder(job) is None:  # else another process refreshes it
                    due.append(job)
        except REDIS_UNAVAILABLE as error:
            log.warning("watchdog: Redis unavailable (%s): nothing to republish to", error)
            return []
        return due

    def watchdog(self, scheduler: BaseScheduler) -> None:
        """One watchdog tick: recovery, then run at once each refresh whose results are gone."""
        self.recover()
        self.republish_missing(scheduler, "watchdog")

    def republish_missing(self, scheduler: BaseScheduler, who: str) -> list[str]:
        """Run at once each refresh whose results Redis lacks and nobody is running; the jobs."""
        due = self.missing()
        for job in due:
            log.warning("%s: no %s published in Redis: refreshing now", who, job)
            scheduler.modify_job(job, next_run_time=datetime.now(UTC))
        return due

    def close(self) -> None:
        self.db.dispose()
        self.cache.close()


# How long the guard blocks on one wait for reports (it stops within this on shutdown), and
# how often it knocks while Redis does not answer.
GUARD_WAIT_SECONDS = 5.0
GUARD_RETRY_SECONDS = 0.25


class PublicationGuard:
    """A thread that republishes the moment what was published is lost, whatever the
    watchdog's timing: when a web process reports a missing version (``cache.signals``), and
    when Redis answers again after its connection dropped (a restart empties it)."""

    def __init__(self, jobs: EngineJobs, scheduler: BaseScheduler) -> None:
        self.jobs, self.scheduler = jobs, scheduler
        self.reports = MissingReports(jobs.cache)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publication-guard", daemon=True)

    def start(self) -> PublicationGuard:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.reports.close()  # a wait blocked on it returns now
        self._thread.join(timeout=GUARD_WAIT_SECONDS + 5)

    def _run(self) -> None:
        lost = False
        while not self._stop.is_set():
            try:
                if lost:
                    self.reports.ping()
                    lost = False
                    log.warning("Redis answers again: checking what is published")
                    self.jobs.republish_missing(self.scheduler, "guard")
                if self.reports.wait(GUARD_WAIT_SECONDS) and not self._stop.is_set():
                    self.jobs.republish_missing(self.scheduler, "guard")
            except REDIS_UNAVAILABLE as error:
                if self._stop.is_set():
                    break
                if not lost:
                    log.warning("Redis connection lost (%s): republishing once it answers", error)
                lost = True
                self.reports.close()
                self._stop.wait(GUARD_RETRY_SECONDS)
            except Exception:  # a bug must not end the guard: the watchdog still runs
                log.exception("publication guard: unexpected error")
                self._stop.wait(GUARD_WAIT_SECONDS)


def schedule(scheduler: BaseScheduler, jobs: EngineJobs) -> None:
    """Add both refreshes at their intervals (one whose results Redis lacks also runs now) and
    the watchdog. Called before the scheduler starts: a lock held under this process' own PID
    is a dead predecessor's."""
    jobs.recover(at_start=True)
    now = datetime.now(UTC)
    plan = (
        (STATISTICS_JOB, jobs.statistics, jobs.settings.statistics_refresh_minutes, "stats"),
        (
            RECOMMENDATIONS_JOB,
            jobs.recommendations,
            jobs.settings.recommendations_refresh_minutes,
            "recs",
        ),
    )
    for job_id, func, minutes, kind in plan:
        first_run = {} if jobs.published(kind) else {"next_run_time": now}
        scheduler.add_job(
            func,
            IntervalTrigger(minutes=minutes),
            id=job_id,
            name=f"{job_id} refresh",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            **first_run,
        )
        log.info("%s refresh every %g minutes%s", job_id, minutes, ", and now" if first_run else "")
    seconds = jobs.settings.scheduler_watchdog_seconds
    scheduler.add_job(
        jobs.watchdog,
        IntervalTrigger(seconds=seconds),
        args=(scheduler,),
        id=WATCHDOG_JOB,
        name="watchdog",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    log.info("watchdog every %g seconds", seconds)


def _executors() -> dict[str, ThreadPoolExecutor]:
    # A thread per job: the quick statistics refresh never waits behind a long training, and
    # the watchdog never waits behind either.
    return {"default": ThreadPoolExecutor(max_workers=3)}


class BackgroundSchedule:
    """The schedule running in threads of this process (the demo), with its guard."""

    def __init__(self, settings: Settings) -> None:
        self.jobs = EngineJobs(settings)
        self.scheduler = BackgroundScheduler(executors=_executors(), timezone=UTC)
        schedule(self.scheduler, self.jobs)
        self.scheduler.start()
        self.guard = PublicationGuard(self.jobs, self.scheduler).start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the guard and the scheduler (a running refresh finishes first when ``wait``),
        and close the handles."""
        self.guard.stop()
        self.scheduler.shutdown(wait=wait)
        self.jobs.close()


def start_background_scheduler(settings: Settings) -> BackgroundSchedule:
    """A started schedule running in threads of this process (the demo)."""
    return BackgroundSchedule(settings)


def _interrupt(_signum, _frame):  # type: ignore[no-untyped-def]
    raise KeyboardInterrupt


def run_scheduler(settings: Settings) -> None:
    """Run the schedule in the foreground until Ctrl-C or SIGTERM.

    It first waits for the database (reachable, at this version's schema), retrying with a
    back-off up to SCHEDULER_WATCHDOG_SECONDS. On the first signal, no new run starts and a
    running refresh is allowed to finish; a second signal abandons it (safe: its unfinished
    version expires, the lock lapses within a minute, and the previous version keeps serving).
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        wait_for_database(
            settings.database_url,
            BackOff(FIRST_RETRY_SECONDS, settings.scheduler_watchdog_seconds),
        )
    except KeyboardInterrupt:
        log.info("scheduler stopped while waiting for the database")
        return
    jobs = EngineJobs(settings)
    scheduler = BlockingScheduler(executors=_executors(), timezone=UTC)
    schedule(scheduler, jobs)
    metrics_server = start_metrics_server(settings.scheduler_metrics_port)
    guard = PublicationGuard(jobs, scheduler).start()
    log.info("scheduler started (pid %d); Ctrl-C stops", os.getpid())
    with contextlib.suppress(KeyboardInterrupt):
        scheduler.start()
    guard.stop()
    log.info("scheduler stopping: waiting for a running refresh (Ctrl-C again abandons it)")
    try:
        scheduler.shutdown(wait=True)
    except KeyboardInterrupt:
        log.warning("scheduler abandoned a running refresh")
        os._exit(130)
    jobs.close()
    if metrics_server is not None:
        metrics_server.shutdown()
        metrics_server.server_close()
    log.info("scheduler stopped")
