"""The impressions jobs of the scheduler: the drain (every IMPRESSIONS_DRAIN_SECONDS) moves what
waits in the Redis stream into the database and attributes outcomes to impressions; pruning
(hourly) deletes what is older than IMPRESSIONS_RETENTION_DAYS.

**Nothing lost, nothing twice.** The drain reads the stream after the last id it wrote, and
writes the rows *and* that id in one database transaction (``impression_drain``): killed at any
point, the transaction either committed (rows and position) or left no trace (neither), and the
next drain starts from the position that matches the rows. Each row also carries its stream
id under a unique constraint, so even a position lost (a database restored from a backup) or
two drainers at once (the position row is locked ``FOR UPDATE``) insert nothing twice. The
stream is trimmed up to the position only after the commit. Outcomes are attributed the same
way: an outcome's attribution is written in one transaction with nothing else depending on it,
so a killed drain leaves it waiting and the next one attributes it once.

**Identical answers once.** Each web process sends an answer once per dedup window; the same
answer sent by several processes (a user's requests land on different workers) is one
impression: an entry whose fingerprint the database, or this batch, holds within
IMPRESSIONS_DEDUP_SECONDS of its time is dropped (counted as ``duplicate``).

**Attribution.** An outcome (rated, watched, dismissed, clicked) of a movie is attributed to the
first impression that showed that movie to the user within IMPRESSIONS_OUTCOME_WINDOW_DAYS
before it; a click naming its impression goes to that one, and a click that names none to the
latest impression that showed the movie. Outcomes are attributed once they are
``SETTLE_SECONDS`` old: by then every answer shown before them has left the web processes'
buffers and reached the stream (drained before the outcomes are looked at).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from movierec import metrics
from movierec.cache import CacheStore
from movierec.cache.impressions import Click, ImpressionStream, Shown, StreamEntry, decode
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import impressions as repo
from movierec.services.impressions import CLICKED, DISMISSED, LIKED_RATING, RATED, WATCHED

log = logging.getLogger(__name__)

IMPRESSIONS_JOB = "impressions"
# Outcomes younger than this wait: an answer shown before them may still be in a web
# process's buffer (flushed every IMPRESSIONS_FLUSH_SECONDS, 0.5 s by default).
SETTLE_SECONDS = 5.0
# Clocks of the web processes differ a little: an impression stamped up to this much after an
# outcome by another process's clock still counts as shown before it.
CLOCK_SLACK_SECONDS = 5.0
# Outcomes attributed per transaction.
ATTRIBUTION_BATCH = 2000
# Rows deleted per statement when pruning.
PRUNE_BATCH = 10_000

# Called inside each drain transaction, after its rows are written and before its commit
# (tests use it to kill the process there).
BatchHook = Callable[[list[StreamEntry]], None]


@dataclass
class DrainReport:
    read: int = 0
    impressions: int = 0
    duplicates: int = 0
    clicks: int = 0
    unknown: int = 0  # a user or movie deleted since
    unreadable: int = 0
    attributed: dict[str, int] = field(default_factory=dict)  # outcome class -> count
    unattributed: int = 0
    waiting: int | None = None  # entries left in the stream
    seconds: float = 0.0

    def summary(self) -> str:
        attributed = sum(self.attributed.values())
        return (
            f"impressions drain: {self.read:,} entries read ({self.impressions:,} impressions, "
            f"{self.duplicates:,} duplicates, {self.clicks:,} clicks, {self.unknown:,} of users "
            f"or movies gone, {self.unreadable:,} unreadable); {attributed:,} outcomes "
            f"attributed, {self.unattributed:,} to no impression; {self.seconds:.2f}s"
        )


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def outcome_class(kind: str, rating: float | None) -> str:
    if kind == WATCHED or (kind == RATED and rating is not None and rating >= LIKED_RATING):
        return repo.LIKED
    if kind == RATED:
        return repo.DISLIKED
    return repo.DISMISSED if kind == DISMISSED else repo.CLICKED


def drain(
    db: Database,
    cache: CacheStore,
    settings: Settings,
    *,
    settle_seconds: float = SETTLE_SECONDS,
    batch_hook: BatchHook | None = None,
    wait_seconds: float = 0.0,
) -> DrainReport:
    """Drain the stream until it is empty, then attribute the outcomes that have settled.
    Raises ``LockBusy`` when another drain is running (after ``wait_seconds`` of retrying); a
    lock whose holder died on this host (a drain killed mid-way) is released at once."""
    from movierec.cache.store import LockBusy
    from movierec.jobs.recovery import holder_is_dead

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with cache.hold_lock(IMPRESSIONS_JOB):
                return _drain(db, cache, settings, settle_seconds, batch_hook)
        except LockBusy:
            holder = cache.lock_holder(IMPRESSIONS_JOB)
            if holder is not None and holder_is_dead(holder):
                if cache.break_lock(IMPRESSIONS_JOB, holder):
                    log.warning("impressions lock: holder %s is dead; lock released", holder)
                continue
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _drain(
    db: Database,
    cache: CacheStore,
    settings: Settings,
    settle_seconds: float,
    batch_hook: BatchHook | None,
) -> DrainReport:
    started = time.perf_counter()
    report = DrainReport()
    stream = ImpressionStream(cache, settings.impressions_stream_max_length)
    while True:
        with db.session() as session:
            last_id = repo.read_cursor(session, stream.key)
            raw = stream.read_after(last_id, settings.impressions_drain_batch)
            if not raw:
                break
            entries = _decode(raw, report)
            _write_batch(session, entries, settings, report)
            repo.save_cursor(session, stream.key, raw[-1][0], datetime.now(UTC))
            if batch_hook is not None:
                batch_hook(entries)
        report.read += len(raw)
        _trim(stream, raw[-1][0])
        if len(raw) < settings.impressions_drain_batch:
            break
    _attribute(db, settings, time.time() - settle_seconds, report)
    try:
        report.waiting = stream.length()
        metrics.IMPRESSIONS_WAITING.set(report.waiting)
    except Exception as error:  # a figure for operators: never fail a drain that worked
        log.warning("impressions: cannot read the stream's length: %s", error)
    metrics.count_drained("impression", report.impressions)
    metrics.count_drained("duplicate", report.duplicates)
    metrics.count_drained("click", report.clicks)
    metrics.count_drained("unknown", report.unknown)
    metrics.count_drained("unreadable", report.unreadable)
    report.seconds = time.perf_counter() - started
    return report


def _trim(stream: ImpressionStream, last_id: str) -> None:
    # After the commit, best effort: the position, not the trim, says what was drained; an
    # entry left behind is skipped by the next read (and by its stream id).
    try:
        stream.trim_through(last_id)
    except Exception as error:
        log.warning("impressions: cannot trim the stream after %s: %s", last_id, error)


def _decode(raw: list[tuple[str, dict[str, str]]], report: DrainReport) -> list[StreamEntry]:
    entries = []
    for stream_id, fields in raw:
        try:
            entries.append(decode(stream_id, fields))
        except (KeyError, ValueError) as error:
            report.unreadable += 1
            log.warning("impressions: unreadable stream entry %s (%s): skipped", stream_id, error)
    return entries


def _write_batch(
    session: Session, entries: list[StreamEntry], settings: Settings, report: DrainReport
) -> None:
    users = {entry.record.user_id for entry in entries}
    # Only a click's movie is a foreign key; an impression keeps the ids it showed.
    movies = {entry.record.movie_id for entry in entries if isinstance(entry.record, Click)}
    known_users, known_movies = repo.existing_ids(session, users, movies)
    answers = [e for e in entries if isinstance(e.record, Shown)]
    window = settings.impressions_dedup_seconds
    counted: dict[int, list[float]] = {}
    if answers and window > 0:
        times = [entry.at for entry in answers]
        stored = repo.latest_shown(
            session,
            (entry.record.fingerprint for entry in answers),  # type: ignore[union-attr]
            _utc(min(times) - window),
            _utc(max(times) + window),
        )
        counted = {key: sorted(t.timestamp() for t in shown) for key, shown in stored.items()}
    impressions, clicks = [], []
    for entry in entries:
        record = entry.record
        if record.user_id not in known_users:
            report.unknown += 1
            continue
        if isinstance(record, Click):
            if record.movie_id not in known_movies:
                report.unknown += 1
                continue
            clicks.append(
                {
                    "stream_id": entry.stream_id,
                    "user_id": record.user_id,
                    "movie_id": record.movie_id,
                    "kind": CLICKED,
                    "rating": None,
                    "at": _utc(entry.at),
                    "fingerprint": record.fingerprint,
                }
            )
            continue
        if window > 0 and _within(counted.get(record.fingerprint, ()), entry.at, window):
            report.duplicates += 1
            continue
        bisect.insort(counted.setdefault(record.fingerprint, []), entry.at)
        impressions.append(_impression_row(entry, record))
    report.impressions += repo.insert_impressions(session, impressions)
    report.clicks += repo.insert_outcomes(session, clicks)


def _within(times: list[float] | tuple, at: float, window: float) -> bool:
    """Whether any of the sorted ``times`` is less than ``window`` from ``at``."""
    index = bisect.bisect_left(times, at)
    near = times[max(0, index - 1) : index + 1]
    return any(abs(at - t) < window for t in near)


def _impression_row(entry: StreamEntry, shown: Shown) -> dict:
    return {
        "stream_id": entry.stream_id,
        "user_id": shown.user_id,
        "shown_at": _utc(entry.at),
        "day": int(entry.at // 86400),
        "fingerprint": shown.fingerprint,
        "source": shown.source,
        "ranker": shown.ranker,
        "arm": shown.arm,
        "experiment": shown.experiment,
        "model_version": shown.model_version,
        "first_rank": shown.first_rank,
        "movie_ids": list(shown.movie_ids),
        "slots": len(shown.movie_ids),
    }


# -- attribution ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    impression_id: int
    shown_at: float
    fingerprint: int
    movies: frozenset[int]
    ranker: str
    arm: str


def _attribute(
    db: Database, settings: Settings, settled_before: float, report: DrainReport
) -> None:
    window = settings.impressions_outcome_window_days * 86400
    while True:
        with db.session() as session:
            pending = repo.pending_outcomes(session, _utc(settled_before), ATTRIBUTION_BATCH)
            if not pending:
                return
            times = [row[5].timestamp() for row in pending]
            candidates = repo.impressions_of_users(
                session,
                {row[1] for row in pending},
                _utc(min(times) - window),
                _utc(max(times) + CLOCK_SLACK_SECONDS),
            )
            by_user: dict[int, list[_Candidate]] = {}
            for shown_id, user_id, shown_at, value, movie_ids, ranker, arm in candidates:
                when = shown_at.timestamp()
                by_user.setdefault(user_id, []).append(
                    _Candidate(shown_id, when, value, frozenset(movie_ids), ranker, arm)
                )
            attributions, counted = [], []
            for (outcome_id, user_id, movie_id, kind, rating, _at, value), when in zip(
                pending, times, strict=True
            ):
                chosen = _choose(by_user.get(user_id, ()), movie_id, kind, value, when, window)
                attributions.append((outcome_id, None if chosen is None else chosen.impression_id))
                counted.append((chosen, outcome_class(kind, rating)))
            repo.attribute(session, attributions, datetime.now(UTC))
        # Counted once the attributions are committed.
        for chosen, outcome in counted:
            if chosen is None:
                report.unattributed += 1
                metrics.count_outcome(None, None, outcome)
            else:
                report.attributed[outcome] = report.attributed.get(outcome, 0) + 1
                metrics.count_outcome(chosen.ranker, chosen.arm, outcome)
        if len(pending) < ATTRIBUTION_BATCH:
            return


def _choose(
    candidates: list[_Candidate] | tuple,
    movie_id: int,
    kind: str,
    named: int | None,
    at: float,
    window: float,
) -> _Candidate | None:
    """The impression an outcome at ``at`` counts for (``candidates`` oldest first): the one a
    click names; else, for a click, the latest that showed the movie; for the other outcomes,
    the first that showed it within the window before."""
    shown = [
        c
        for c in candidates
        if at - window <= c.shown_at <= at + CLOCK_SLACK_SECONDS and movie_id in c.movies
    ]
    if kind == CLICKED:
        if named is not None:
            for candidate in reversed(shown):
                if candidate.fingerprint == named:
                    return candidate
        return shown[-1] if shown else None
    return shown[0] if shown else None


# -- retention -----------------------------------------------------------------------------


def prune(db: Database, settings: Settings) -> tuple[int, int]:
    """Delete impressions and outcomes older than IMPRESSIONS_RETENTION_DAYS, in bounded
    statements; how many of each were deleted."""
    before = datetime.now(UTC) - timedelta(days=settings.impressions_retention_days)
    impressions = outcomes = 0
    while True:
        with db.session() as session:
            deleted = repo.prune(session, before, PRUNE_BATCH)
        impressions += deleted[0]
        outcomes += deleted[1]
        if max(deleted) < PRUNE_BATCH:
            return impressions, outcomes
