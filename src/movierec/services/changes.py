"""What a user did since the last refresh read the ratings: the one thing a cached list cannot
know, and what lets a cached list be served without reading the user's ratings (a query that
would otherwise be the largest cost of most recommendations requests).

Every write that changes what a user may be recommended (rate, watch, un-watch, delete a
rating, dismiss, un-dismiss, delete the user) is recorded twice:

- in its own transaction: ``users.changed_at`` (``deleted_users.deleted_at`` for a deletion),
  stamped before the commit;
- after the commit, in Redis (``CacheStore.mark_user_changed``): read in the same round trip as
  the user's list, so the very next answer, from any process, knows. A list whose ratings were
  read before the marker's time is out of date: the answer reads the user's ratings instead.

The marker can be lost: Redis unreachable just then, or the process killed between the commit
and the marker. So every web process also reads the users changed lately from the database, at
most once a ``CHECK_SECONDS`` (``RecentChanges``): a lost marker is made good within that time.
That record is stamped before its commit, and a refresh may read the ratings between the two:
it counts as a change if it is less than ``COMMIT_MARGIN_SECONDS`` older than the read.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import redis

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.repositories import users as users_repo

log = logging.getLogger(__name__)

# How often a process reads the users changed lately from the database.
CHECK_SECONDS = 1.0
# Longer than a write's transaction takes from its stamp to its commit: a few statements,
# each bounded by DATABASE_STATEMENT_TIMEOUT_MS (5 s by default).
COMMIT_MARGIN_SECONDS = 30.0


def change_time() -> datetime:
    """The stamp of a write's change, taken inside its transaction."""
    return datetime.now(UTC)


def announce_change(cache: CacheStore, user_id: int) -> None:
    """After a write committed: mark the user changed in Redis, stamped now. Best effort: a
    failure is logged, and ``RecentChanges`` makes it good within a second."""
    try:
        cache.mark_user_changed(user_id, time.time())
    except redis.RedisError as error:
        log.warning("user %s: cannot mark the change in Redis: %s", user_id, error)


class RecentChanges:
    """The users whose ``users.changed_at`` (or deletion) is recent, as this process last read
    them from the database, shared by its threads."""

    def __init__(self, db: Database, check_seconds: float = CHECK_SECONDS) -> None:
        self.db = db
        self.check_seconds = check_seconds
        self._changed: dict[int, float] = {}  # user id -> epoch seconds of the latest change
        self._floor: float | None = None  # changes at or before this are not held
        self._read_at = 0.0  # wall clock of the last read
        self._checked = -float("inf")  # monotonic clock of the last read
        self._lock = threading.Lock()

    def changed_after(self, user_id: int, ratings_read_at: float) -> bool:
        """Whether the database records a change of the user that a refresh reading the
        ratings at ``ratings_read_at`` (epoch seconds) may have missed, as of at most
        ``check_seconds`` ago."""
        floor = ratings_read_at - COMMIT_MARGIN_SECONDS
        if not self._fresh(floor):
            with self._lock:
                if not self._fresh(floor):
                    self._read(floor)
        changed = self._changed.get(user_id)
        return changed is not None and changed > floor

    def _fresh(self, floor: float) -> bool:
        return (
            self._floor is not None
            and floor >= self._floor
            and time.monotonic() - self._checked < self.check_seconds
        )

    def _read(self, floor: float) -> None:
        read_at = time.time()
        if self._floor is None or floor < self._floor:  # first, or an older refresh: anew
            since, held = floor, {}
        else:  # what committed since the last read, however early it was stamped
            since = max(floor, self._read_at - COMMIT_MARGIN_SECONDS)
            held = {user: at for user, at in self._changed.items() if at > floor}
        with self.db.connection() as connection:
            rows = users_repo.changed_since(connection, datetime.fromtimestamp(since, UTC))
        for user_id, at in rows:
            stamp = at.timestamp()
            if stamp > held.get(user_id, -float("inf")):
                held[user_id] = stamp
        self._changed, self._floor, self._read_at = held, floor, read_at
        self._checked = time.monotonic()
