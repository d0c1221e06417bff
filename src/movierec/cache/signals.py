"""Word from the web tier to the scheduler, through Redis: "what was published is gone".

Redis restarted empty, its keys flushed or evicted: until the scheduler republishes, lists are
the popular ones. Its watchdog would notice at its next tick (up to SCHEDULER_WATCHDOG_SECONDS
later); the loss itself is noticed sooner by

- a web process that reads no published version where it needs one (``report``): it pushes
  the kind ("recs", "stats") onto ``{p}:signals:missing``, at most once a second per process
  and kind, the list capped, so an outage costs Redis next to nothing;
- the scheduler's guard, blocked on that list (``wait``): a report wakes it at once, and a
  restart drops its connection, so it knows to look as soon as Redis answers again.

Key: ``{p}:signals:missing`` LIST of kinds, newest first, at most ``MAX_REPORTS``.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

import redis

from movierec.cache.store import CacheStore

log = logging.getLogger(__name__)

REPORT_EVERY_SECONDS = 1.0
MAX_REPORTS = 16


class MissingReports:
    """Reports of a published kind gone missing, for one ``CacheStore``'s Redis and prefix."""

    def __init__(self, cache: CacheStore) -> None:
        self.cache = cache
        self.key = cache.key("signals", "missing")
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._waiting: redis.Redis | None = None

    def report(self, kind: str) -> bool:
        """Say that ``kind`` is not published (throttled; never raises: a request must not
        fail for it). True when a report was sent."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -float("inf")) < REPORT_EVERY_SECONDS:
                return False
            self._last[kind] = now
        try:
            with self.cache.client.pipeline(transaction=False) as pipe:
                pipe.lpush(self.key, kind).ltrim(self.key, 0, MAX_REPORTS - 1).execute()
        except redis.RedisError as error:
            log.debug("cannot report %s missing: %s", kind, error)
            return False
        return True

    def wait(self, timeout: float) -> set[str]:
        """The kinds reported missing, waiting up to ``timeout`` seconds (whole seconds, at
        least 1) for a first report; empty when none came. Raises ``redis.ConnectionError``
        when Redis is unreachable or the connection drops (a restart) meanwhile."""
        client = self._blocking_client(timeout)
        first = client.blpop([self.key], timeout=max(1, round(timeout)))
        if first is None:
            return set()
        rest = client.lpop(self.key, MAX_REPORTS) or []
        return {first[1].decode(), *(kind.decode() for kind in rest)}

    def ping(self) -> None:
        """Raises ``redis.ConnectionError`` while Redis does not answer."""
        self._blocking_client(1).ping()

    def close(self) -> None:
        """Close the waiting connection (a ``wait`` blocked on it then raises)."""
        if self._waiting is not None:
            self._waiting.close()
            self._waiting = None

    def _blocking_client(self, timeout: float) -> redis.Redis:
        # Its own connection: a blocked BLPOP must not hold one of the pool's, and its socket
        # timeout must outlast the wait.
        if self._waiting is None:
            if self.cache.url is None:
                raise RuntimeError("CacheStore has no URL")
            self._waiting = redis.Redis.from_url(
                self.cache.url,
                socket_timeout=max(1, round(timeout)) + 5,
                socket_connect_timeout=2,
                single_connection_client=True,
            )
        return self._waiting


_reports: weakref.WeakKeyDictionary[CacheStore, MissingReports] = weakref.WeakKeyDictionary()
_reports_lock = threading.Lock()


def missing_reports(cache: CacheStore) -> MissingReports:
    """The process's reporter for ``cache`` (one, so the throttle holds across requests)."""
    with _reports_lock:
        reports = _reports.get(cache)
        if reports is None:
            reports = _reports[cache] = MissingReports(cache)
        return reports
