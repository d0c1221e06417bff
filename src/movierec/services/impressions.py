"""Recording what the lists showed, and what users did next: the impressions sink of a process.

Every recommendations answer is an impression: who was shown which movies at which ranks,
where the list came from, which ranker (and experiment arm) made it, when. Recording must
never fail or slow the answer, so a request only appends to this process's buffer (a few
microseconds); a thread of the process sends the buffer to the Redis stream every
IMPRESSIONS_FLUSH_SECONDS in one pipelined round trip (``cache.impressions``), and the scheduler
drains the stream into the database (``jobs.impressions``). While Redis is unreachable the
buffer keeps up to IMPRESSIONS_BUFFER_MAX entries (then drops the oldest, counted in
``movierec_impressions_dropped``) and sends them when Redis is back.

- The same answer asked again within IMPRESSIONS_DEDUP_SECONDS (a reload, a second tab) is one
  impression: this process sends it once per window, and the drain keeps one of the copies
  other processes sent. Its identity is the ``fingerprint`` of (user, arm, page, movies), which
  clients get as ``impression_id`` and may send back with a click.
- IMPRESSIONS_SAMPLE_RATE records a share of the *users* (by a hash of the id), so that a
  recorded user's answers and outcomes are all there: per-user rates stay unbiased.
- Outcomes: a rating, a watch or a dismissal is written to the database in the transaction
  of the write itself (``outcome``: it can neither be lost nor counted twice); a click comes
  through the stream like the answers. The drain attributes each to an impression.

IMPRESSIONS=off records nothing at all.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import struct
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import redis
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from movierec import metrics
from movierec.cache import CacheStore
from movierec.cache.impressions import Click, ImpressionStream, Shown
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import impressions as impressions_repo
from movierec.services.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from movierec.services.recommendations import ListRead

log = logging.getLogger(__name__)

# Outcome kinds, as stored: a rating (its stars say liked, >= LIKED_RATING, or not), a watch
# (counts as liked), a dismissal, a click.
RATED, WATCHED, DISMISSED, CLICKED = "rated", "watched", "dismissed", "clicked"
LIKED_RATING = 4.0
# Fingerprints remembered per process for the dedup window (least recently recorded dropped).
RECENT_ANSWERS = 100_000
# A failed flush is logged at most this often (Redis down: one line a minute, not a flood).
FAILURE_LOG_SECONDS = 60.0

_MASK64 = 2**64 - 1
_GOLDEN = 0x9E3779B97F4A7C15  # 2^64 / golden ratio: Fibonacci hashing spreads sequential ids


def fingerprint(user_id: int, arm: str, first_rank: int, movie_ids: Sequence[int]) -> int:
    """The identity of an answer: the same user shown the same movies on the same page by the
    same arm. A signed 64-bit integer (a BIGINT column), the same in every process."""
    digest = hashlib.blake2b(arm.encode(), digest_size=8)
    numbers = array("q", (user_id, first_rank, *movie_ids))
    if sys.byteorder != "little":  # the same bytes on every machine
        numbers.byteswap()
    digest.update(numbers.tobytes())
    return int.from_bytes(digest.digest(), "big", signed=True)


def impression_id(value: int) -> str:
    """The impression id clients are given: the fingerprint as 16 hex digits."""
    return f"{value & _MASK64:016x}"


def parse_impression_id(text: str) -> int:
    """The fingerprint of an ``impression_id``; ValueError when it is not one."""
    if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("an impression id is 16 lower-case hex digits")
    return struct.unpack(">q", int(text, 16).to_bytes(8, "big"))[0]


def user_sampled(user_id: int, rate: float) -> bool:
    """Whether the user's answers and outcomes are recorded at sample ``rate``: the same answer
    for a user everywhere (Fibonacci hashing of the id)."""
    if rate >= 1.0:
        return True
    return rate > 0.0 and ((user_id * _GOLDEN) & _MASK64) < rate * 2**64


class ImpressionSink:
    """This process's recorder: a buffer in front of the Redis stream, and the outcome rows.
    Thread-safe; the flushing thread starts with the first entry (after a fork, anew)."""

    def __init__(
        self,
        cache: CacheStore,
        *,
        enabled: bool = True,
        sample_rate: float = 1.0,
        dedup_seconds: float = 600.0,
        flush_seconds: float = 0.5,
        buffer_max: int = 50_000,
        stream_max_length: int = 200_000,
    ) -> None:
        self.cache = cache
        self.enabled = enabled
        self.sample_rate = sample_rate
        self.dedup_seconds = dedup_seconds
        self.flush_seconds = flush_seconds
        self.buffer_max = buffer_max
        self.stream_max_length = stream_max_length
        self._buffer: deque[tuple[float, Shown | Click]] = deque()
        self._recent: dict[int, float] = {}  # fingerprint -> when this process recorded it
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time (the thread, or ``flush``)
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._closed = False
        self._failed_logged = -float("inf")

    @classmethod
    def from_settings(cls, cache: CacheStore, settings: Settings) -> ImpressionSink:
        return cls(
            cache,
            enabled=settings.recording_impressions,
            sample_rate=settings.impressions_sample_rate,
            dedup_seconds=settings.impressions_dedup_seconds,
            flush_seconds=settings.impressions_flush_seconds,
            buffer_max=settings.impressions_buffer_max,
            stream_max_length=settings.impressions_stream_max_length,
        )

    def records(self, user_id: int) -> bool:
        """Whether anything of this user is recorded (on, and the user sampled)."""
        return self.enabled and user_sampled(user_id, self.sample_rate)

    def impression_id(self, shown: Shown) -> str | None:
        """The id an answer is given: None when it is not recorded (nothing shown, or not this
        user's)."""
        if not shown.movie_ids or not self.records(shown.user_id):
            return None
        return impression_id(shown.fingerprint)

    # -- the request path: appends only --------------------------------------------------------

    def record_answer(self, shown: Shown) -> None:
        """Record an answer as shown now, unless this process recorded the same answer within
        the dedup window. Never raises, never waits on I/O."""
        if not self.enabled or not shown.movie_ids:
            return
        if not user_sampled(shown.user_id, self.sample_rate):
            return
        now = time.time()
        with self._lock:
            seen = self._recent.get(shown.fingerprint)
            if seen is not None and now - seen < self.dedup_seconds:
                return
            if seen is not None:
                del self._recent[shown.fingerprint]  # re-inserted last: the newest
            self._recent[shown.fingerprint] = now
            if len(self._recent) > RECENT_ANSWERS:
                self._forget_oldest(now)
            self._append(now, shown)
        metrics.count_impression(shown.ranker, shown.arm, shown.source, len(shown.movie_ids))

    def record_click(self, click: Click) -> None:
        """Record a click now (the drain counts the same click of an impression once)."""
        if not self.enabled or not user_sampled(click.user_id, self.sample_rate):
            return
        with self._lock:
            self._append(time.time(), click)
        metrics.count_click()

    def _forget_oldest(self, now: float) -> None:
        # Insertion order is recording order: drop from the front what the window has passed,
        # and enough more to keep the bound.
        excess = len(self._recent) - RECENT_ANSWERS // 2
        for key in list(self._recent):
            if excess <= 0 and now - self._recent[key] < self.dedup_seconds:
                break
            del self._recent[key]
            excess -= 1

    def _append(self, at: float, record: Shown | Click) -> None:
        if len(self._buffer) >= self.buffer_max:
            self._buffer.popleft()
            metrics.count_impression_dropped("buffer_full")
        self._buffer.append((at, record))
        if self._pid != os.getpid():  # first entry of this process (or of a forked child)
            self._start_thread()

    # -- the flushing thread ---------------------------------------------------------------------

    def _start_thread(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="impressions-flush", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._closed and self._pid == pid:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self, wait: float | None = None) -> int:
        """Send what the buffer holds to the stream now; how many entries were sent (0 when
        Redis failed: they stay buffered, and the failure is logged). ``wait``: give up after
        that many seconds if another flush is under way (None: wait for it)."""
        if not self._flush_lock.acquire(timeout=-1 if wait is None else wait):
            return 0
        try:
            with self._lock:
                pending = list(self._buffer)
                self._buffer.clear()
            if not pending:
                return 0
            try:
                ImpressionStream(self.cache, self.stream_max_length).append(pending)
            except (redis.RedisError, OSError) as error:
                self._keep(pending)
                now = time.monotonic()
                if now - self._failed_logged >= FAILURE_LOG_SECONDS:
                    self._failed_logged = now
                    log.warning(
                        "impressions: cannot reach Redis (%s); %d entries kept to send later",
                        error,
                        len(self._buffer),
                    )
                return 0
            return len(pending)
        finally:
            self._flush_lock.release()

    def _keep(self, pending: list[tuple[float, Shown | Click]]) -> None:
        """Put back what could not be sent, before what arrived meanwhile, within the bound."""
        with self._lock:
            merged = pending + list(self._buffer)
            overflow = len(merged) - self.buffer_max
            if overflow > 0:
                metrics.count_impression_dropped("buffer_full", overflow)
                merged = merged[overflow:]
            self._buffer = deque(merged)

    def pending(self) -> int:
        """Entries waiting in this process's buffer."""
        return len(self._buffer)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread after a last flush (at exit: what was recorded is sent if Redis
        answers); waits at most about ``timeout`` for a flush under way."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
        self.flush(wait=timeout)

    # -- outcomes written with their write ------------------------------------------------------

    def outcome(
        self,
        session: Session,
        user_id: int,
        movie_id: int,
        kind: str,
        at: datetime,
        rating: float | None = None,
    ) -> None:
        """Note, in the write's own transaction, that the user rated, watched or dismissed
        the movie (the drain attributes it to the impression that showed it, if any)."""
        if self.records(user_id):
            impressions_repo.add_outcome(session, user_id, movie_id, kind, at, rating)


def click(
    db: Database, sink: ImpressionSink, user_id: int, movie_id: int, impression: str | None
) -> bool:
    """A user opened a recommended movie; ``impression``: the ``impression_id`` of the answer
    that showed it, if the client kept it. Checks that the user and the movie exist when the
    database answers (``NotFound``), and records the click even when it does not: a click is
    never lost to a database that is down (the drain drops the clicks of users or movies that
    turn out not to exist). True if recorded (False: IMPRESSIONS=off, or the user is not
    sampled)."""
    try:
        named = None if impression is None else parse_impression_id(impression)
    except ValueError as error:
        raise InvalidInput(f"impression_id: {error}") from None
    try:
        with db.connection() as connection:
            users, movies = impressions_repo.existing_ids(connection, [user_id], [movie_id])
    except (OperationalError, PoolTimeoutError) as error:
        log.warning("click of user %s: the database cannot tell whether they exist: %s",
                    user_id, str(error).splitlines()[0])  # fmt: skip
    else:
        if user_id not in users:
            raise NotFound(f"user {user_id} not found")
        if movie_id not in movies:
            raise NotFound(f"movie {movie_id} not found")
    if not sink.records(user_id):
        return False
    sink.record_click(Click(user_id, movie_id, named))
    return True


def shown_answer(
    read: ListRead,
    user_id: int,
    movie_ids: Sequence[int],
    first_rank: int,
    source: str,
    default_ranker: str,
) -> Shown:
    """What a recommendations answer shows, and who made it: the arm of the user in the
    experiment the refresh published (``read``), else the ranker of the published model (the
    configured RANKER before any was published)."""
    model, arm, experiment = read.model, read.arm, read.experiment
    if arm is not None:
        ranker, arm_name = arm.ranker, arm.name
    else:
        ranker = model.ranker_name if model is not None else default_ranker
        arm_name = ranker
    return Shown(
        user_id=user_id,
        movie_ids=tuple(movie_ids),
        first_rank=first_rank,
        source=source,
        ranker=ranker,
        arm=arm_name,
        experiment=None if experiment is None else experiment.name,
        model_version=read.published.version,
        fingerprint=fingerprint(user_id, arm_name, first_rank, movie_ids),
    )
