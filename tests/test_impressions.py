"""Impressions from the web process's buffer to the database: the Redis stream, the drain (once
and only once, duplicates across processes once), the attribution of outcomes, retention, and
the report's figures (PostgreSQL + Redis and the embedded stack)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from movierec.cache import CacheStore
from movierec.cache.impressions import Click, ImpressionStream, Shown
from movierec.config import Settings
from movierec.db import Database
from movierec.db.repositories import impressions as impressions_repo
from movierec.jobs.impressions import drain, prune
from movierec.services import dismissed as dismissed_service
from movierec.services import ratings as ratings_service
from movierec.services.experiment_report import experiment_report
from movierec.services.impressions import (
    ImpressionSink,
    fingerprint,
    impression_id,
    parse_impression_id,
    user_sampled,
)


def answer(
    user: int,
    movies: list[int],
    *,
    arm: str = "puresvd",
    ranker: str | None = None,
    experiment: str | None = None,
    source: str = "model",
    first_rank: int = 0,
) -> Shown:
    return Shown(
        user_id=user,
        movie_ids=tuple(movies),
        first_rank=first_rank,
        source=source,
        ranker=ranker or arm,
        arm=arm,
        experiment=experiment,
        model_version="v1",
        fingerprint=fingerprint(user, arm, first_rank, movies),
    )


@pytest.fixture
def sinks(cache: CacheStore) -> Iterator[list[ImpressionSink]]:
    """The web processes' sinks a test makes, closed before its Redis namespace is emptied."""
    made: list[ImpressionSink] = []
    yield made
    for made_sink in made:
        made_sink.close()


@pytest.fixture
def sink(cache: CacheStore, sinks: list[ImpressionSink]):  # type: ignore[no-untyped-def]
    """Makes a sink (a web process's) that flushes only when told."""

    def make(**options: object) -> ImpressionSink:
        made = ImpressionSink(cache, flush_seconds=60, **options)  # type: ignore[arg-type]
        sinks.append(made)
        return made

    return make


def rows(db: Database, sql: str) -> list[tuple]:
    with db.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def test_impression_ids_round_trip() -> None:
    for value in (0, 1, -1, 2**63 - 1, -(2**63), fingerprint(7, "als", 20, [1, 2, 3])):
        assert parse_impression_id(impression_id(value)) == value
    for bad in ("", "xyz", "0" * 15, "0" * 17, "ABCDEF0123456789"):
        with pytest.raises(ValueError):
            parse_impression_id(bad)


def test_answers_reach_the_database_once_whatever_the_processes_and_drains(
    settings: Settings, loaded_db: Database, cache: CacheStore, sink
) -> None:
    first, second = sink(), sink()  # two web processes
    shown = answer(3, [10, 20, 30], first_rank=20)
    for _ in range(3):  # a user reloading the page: once per process and window
        first.record_answer(shown)
    first.record_answer(answer(3, [40, 50]))
    second.record_answer(shown)  # the same answer from another worker
    assert first.pending() == 2 and second.pending() == 1
    assert first.flush() == 2 and second.flush() == 1 and first.flush() == 0
    assert ImpressionStream(cache).length() == 3

    report = drain(loaded_db, cache, settings)
    assert (report.read, report.impressions, report.duplicates) == (3, 2, 1)
    assert report.waiting == 0  # trimmed once written
    stored = rows(
        loaded_db,
        "SELECT user_id, first_rank, slots, source, ranker, arm, experiment, model_version, "
        "fingerprint FROM impressions ORDER BY first_rank DESC",
    )
    assert stored == [
        (3, 20, 3, "model", "puresvd", "puresvd", None, "v1", shown.fingerprint),
        (3, 0, 2, "model", "puresvd", "puresvd", None, "v1", answer(3, [40, 50]).fingerprint),
    ]
    with loaded_db.session() as session:
        movie_ids = session.execute(
            text("SELECT movie_ids FROM impressions WHERE first_rank = 20")
        ).scalar_one()
    assert (movie_ids if isinstance(movie_ids, list) else json.loads(movie_ids)) == [10, 20, 30]
    # Nothing is drained twice, even from entries left in the stream (a trim that failed).
    stream = ImpressionStream(cache)
    stream.append([(time.time(), answer(4, [60]))])
    again = drain(loaded_db, cache, settings)
    assert (again.read, again.impressions) == (1, 1)
    assert drain(loaded_db, cache, settings).read == 0
    assert rows(loaded_db, "SELECT COUNT(*) FROM impressions") == [(3,)]


def test_the_same_answer_counts_again_after_the_dedup_window(
    settings: Settings, loaded_db: Database, cache: CacheStore, sink
) -> None:
    window = settings.impressions_dedup_seconds
    start = time.time() - 3 * window
    shown = answer(5, [10, 20])
    ImpressionStream(cache).append(
        [(start, shown), (start + window - 1, shown), (start + window + 1, shown)]
    )
    report = drain(loaded_db, cache, settings)
    assert (report.impressions, report.duplicates) == (2, 1)
    # Within the window of one already stored (another drain, earlier): a duplicate too.
    ImpressionStream(cache).append([(start + window + 30, shown)])
    assert drain(loaded_db, cache, settings).duplicates == 1
    # A process sends an answer again once its window has passed.
    recorder = sink(dedup_seconds=0.2)
    recorder.record_answer(shown)
    recorder.record_answer(shown)
    time.sleep(0.25)
    recorder.record_answer(shown)
    assert recorder.pending() == 2


def test_sampling_records_a_share_of_users_and_all_of_each(
    settings: Settings, loaded_db: Database, cache: CacheStore, sink
) -> None:
    sampled = [user for user in range(1, 10_001) if user_sampled(user, 0.25)]
    assert abs(len(sampled) / 10_000 - 0.25) < 0.02
    recorder = sink(sample_rate=0.25)
    users = range(1, 61)
    for user in users:
        recorder.record_answer(answer(user, [10]))
        recorder.record_click(Click(user, 10, None))
        ratings_service.rate(loaded_db, cache, user, 20, 5.0, outcomes=recorder)
    kept = {user for user in users if user_sampled(user, 0.25)}
    assert 0 < len(kept) < 60
    recorder.flush()
    drain(loaded_db, cache, settings, settle_seconds=0)
    assert {u for (u,) in rows(loaded_db, "SELECT user_id FROM impressions")} == kept
    outcomes = rows(loaded_db, "SELECT user_id, kind FROM impression_outcomes")
    assert {u for u, kind in outcomes if kind == "clicked"} == kept
    assert {u for u, kind in outcomes if kind == "rated"} == kept


def test_off_records_nothing(
    settings: Settings, loaded_db: Database, cache: CacheStore, sink
) -> None:
    recorder = sink(enabled=False)
    recorder.record_answer(answer(1, [10]))
    recorder.record_click(Click(1, 10, None))
    ratings_service.rate(loaded_db, cache, 1, 10, 4.0, outcomes=recorder)
    dismissed_service.dismiss(loaded_db, cache, 1, 20, outcomes=recorder)
    assert recorder.pending() == 0 and recorder.flush() == 0
    assert ImpressionStream(cache).length() == 0
    assert rows(loaded_db, "SELECT COUNT(*) FROM impression_outcomes") == [(0,)]


def test_outcomes_go_to_the_impression_that_showed_the_movie(
    settings: Settings, loaded_db: Database, cache: CacheStore
) -> None:
    """First shown wins for ratings, watches and dismissals, within the window; a click goes
    to the impression it names, else to the latest that showed the movie."""
    day = 86400
    now = time.time()
    early = answer(7, [10, 20, 30, 40])
    later = answer(7, [10, 50, 60])
    stream = ImpressionStream(cache)
    stream.append([(now - 3 * day, early), (now - day, later)])
    stream.append([(now - 10, Click(7, 50, None)), (now - 9, Click(7, 10, early.fingerprint))])
    stream.append([(now - 8, Click(7, 10, None))])
    assert drain(loaded_db, cache, settings).attributed == {"clicked": 3}  # settled already
    ids = dict(rows(loaded_db, "SELECT fingerprint, impression_id FROM impressions"))
    early_id, later_id = ids[early.fingerprint], ids[later.fingerprint]

    def outcome(movie: int, kind: str, when: float, rating: float | None = None) -> None:
        with loaded_db.session() as session:
            impressions_repo.add_outcome(
                session, 7, movie, kind, datetime.fromtimestamp(when, UTC), rating
            )

    outcome(10, "rated", now - 5, 4.5)  # shown by both: the first one
    outcome(60, "rated", now - 5, 2.0)  # shown by the later only
    outcome(20, "watched", now - 5)
    outcome(30, "dismissed", now - 2 * day - 10 + 8 * day)  # 8 days after: out of the window
    outcome(70, "rated", now - 5, 5.0)  # never shown
    report = drain(loaded_db, cache, settings, settle_seconds=0)
    attributed = rows(
        loaded_db,
        "SELECT movie_id, kind, impression_id FROM impression_outcomes "
        "WHERE attributed_at IS NOT NULL ORDER BY movie_id, kind, outcome_id",
    )
    assert sorted(attributed, key=str) == sorted(
        [
            (10, "clicked", early_id),  # named its impression
            (10, "clicked", later_id),  # named none: the latest that showed it
            (10, "rated", early_id),
            (20, "watched", early_id),
            (50, "clicked", later_id),
            (60, "rated", later_id),
            (70, "rated", None),
        ],
        key=str,
    )
    assert report.attributed == {"liked": 2, "disliked": 1}
    assert report.unattributed == 1
    # The dismissal is 8 days ahead: not settled yet, still waiting.
    assert rows(
        loaded_db, "SELECT COUNT(*) FROM impression_outcomes WHERE attributed_at IS NULL"
    ) == [(1,)]


def test_outcomes_wait_until_the_answers_before_them_can_have_arrived(
    settings: Settings, loaded_db: Database, cache: CacheStore, sink
) -> None:
    recorder = sink()
    ratings_service.rate(loaded_db, cache, 9, 10, 5.0, outcomes=recorder)
    assert drain(loaded_db, cache, settings).attributed == {}  # younger than the settle time
    # The answer that showed it was still in a web process's buffer: it arrives, then the
    # outcome is attributed to it.
    ImpressionStream(cache).append([(time.time() - 1, answer(9, [10, 20]))])
    report = drain(loaded_db, cache, settings, settle_seconds=0)
    assert report.attributed == {"liked": 1}


def test_entries_of_deleted_users_and_unreadable_entries_are_skipped(
    settings: Settings, loaded_db: Database, cache: CacheStore
) -> None:
    stream = ImpressionStream(cache)
    stream.append([(time.time(), answer(99_999, [10])), (time.time(), Click(1, 99_999, None))])
    cache.client.xadd(stream.key, {"d": "a|not a time|1"})
    cache.client.xadd(stream.key, {"other": "field"})
    stream.append([(time.time(), answer(1, [10]))])
    report = drain(loaded_db, cache, settings)
    assert (report.read, report.unknown, report.unreadable, report.impressions) == (5, 2, 2, 1)


def test_retention_deletes_old_impressions_with_their_outcomes(
    settings: Settings, loaded_db: Database, cache: CacheStore
) -> None:
    now = time.time()
    old_day = now - (settings.impressions_retention_days + 1) * 86400
    ImpressionStream(cache).append([(old_day, answer(1, [10])), (now - 60, answer(2, [10]))])
    drain(loaded_db, cache, settings)
    with loaded_db.session() as session:
        for user, when in ((1, old_day + 5), (2, now - 50)):
            impressions_repo.add_outcome(
                session, user, 10, "rated", datetime.fromtimestamp(when, UTC), 5.0
            )
    drain(loaded_db, cache, settings, settle_seconds=0)
    assert prune(loaded_db, settings) == (1, 0)  # the old outcome went with its impression
    assert rows(loaded_db, "SELECT user_id FROM impressions") == [(2,)]
    assert rows(loaded_db, "SELECT user_id FROM impression_outcomes") == [(2,)]
    # A deleted user takes their impressions and outcomes along.
    with loaded_db.engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE user_id = 2"))
    assert rows(loaded_db, "SELECT COUNT(*) FROM impressions") == [(0,)]
    assert rows(loaded_db, "SELECT COUNT(*) FROM impression_outcomes") == [(0,)]


def test_the_report_counts_each_arm_and_compares_them(
    settings: Settings, loaded_db: Database, cache: CacheStore
) -> None:
    """Two arms of an experiment, figures small enough to count by hand."""
    now = time.time()
    # What happens "now" (up to 200 s before it) must fall on the UTC day of ``now``, which the
    # daily rows are checked against: in the first minutes of a day, it happens just before
    # midnight instead.
    into_day = now % 86400
    if into_day < 600:
        now -= into_day + 60
    yesterday = now - 86400
    entries = []
    # Arm a: users 1 and 2; user 1 twice (yesterday and now), 3 movies each.
    entries += [(yesterday, answer(1, [10, 20, 30], arm="a", ranker="puresvd", experiment="ab"))]
    entries += [(now - 100, answer(1, [40, 50, 60], arm="a", ranker="puresvd", experiment="ab"))]
    entries += [(now - 100, answer(2, [10, 20, 30], arm="a", ranker="puresvd", experiment="ab"))]
    # Arm b: users 3, 4, 5; popular lists of 2 movies, one from the database.
    for user, source in ((3, "popular"), (4, "popular"), (5, "database")):
        entries += [
            (
                now - 100,
                answer(user, [10, 20], arm="b", ranker="popular", experiment="ab", source=source),
            )
        ]
    # Before the experiment: the ranker alone.
    entries += [(now - 200, answer(6, [70], arm="als", ranker="als"))]
    ImpressionStream(cache).append(entries)
    ImpressionStream(cache).append([(now - 50, Click(1, 40, None)), (now - 50, Click(1, 40, None))])
    drain(loaded_db, cache, settings)
    with loaded_db.session() as session:
        add = impressions_repo.add_outcome
        at = datetime.fromtimestamp(now - 40, UTC)
        add(session, 1, 40, "rated", at, 4.0)  # liked
        add(session, 1, 40, "rated", at, 5.0)  # re-rated: the same slot, liked once
        add(session, 1, 20, "watched", at)  # liked (yesterday's impression)
        add(session, 2, 30, "rated", at, 2.5)  # disliked
        add(session, 3, 10, "dismissed", at)
        add(session, 4, 20, "rated", at, 4.5)  # liked
    drain(loaded_db, cache, settings, settle_seconds=0)

    report = experiment_report(
        loaded_db, days=7, experiment=settings.model_copy().configured_experiment()
    )
    document = report.as_dict()
    arms = {(arm["experiment"], arm["arm"]): arm for arm in document["arms"]}
    a, b, als = arms[("ab", "a")], arms[("ab", "b")], arms[(None, "als")]
    assert (a["users"], a["impressions"], a["slots"]) == (2, 3, 9)
    assert (a["clicks"], a["liked_after_shown"], a["disliked_after_shown"]) == (1, 2, 1)
    assert (b["users"], b["impressions"], b["slots"], b["liked_after_shown"]) == (3, 3, 6, 1)
    assert b["dismissed_after_shown"] == 1 and als["users"] == 1
    assert a["rates"]["liked_per_user"]["value"] == 0.5  # user 1 of 2
    assert a["rates"]["liked_per_slot"]["value"] == pytest.approx(2 / 9)
    assert a["rates"]["click_through"]["value"] == pytest.approx(1 / 3)
    assert b["rates"]["dismissed_per_slot"]["value"] == pytest.approx(1 / 6)
    assert a["movies_shown"] == 6 and b["movies_shown"] == 2
    assert a["coverage"] == pytest.approx(6 / 120)
    by_source = {row["source"]: row for row in b["by_source"]}
    assert by_source["popular"]["impressions"] == 2 and by_source["database"]["users"] == 1
    # The second arm against the first: with five users nothing is significant, and it says so.
    (liked,) = [c for c in b["comparison"] if c["metric"] == "liked_per_user"]
    assert liked["baseline"] == "a" and not liked["significant"]
    assert liked["verdict"].startswith("not significant")
    # Per day: arm a showed user 1 yesterday and users 1 and 2 today.
    days = {(row["arm"], row["day"]): row for row in document["daily"]}
    today = datetime.fromtimestamp(now, UTC).date()
    yesterday_day = datetime.fromtimestamp(yesterday, UTC).date()
    assert days[("a", today.isoformat())]["users"] == 2
    assert days[("a", yesterday_day.isoformat())]["liked"] == 1  # the watch of movie 20
    table = report.table()
    assert "not significant" in table and " a " in table and " b " in table
    # A window of one day ending yesterday holds only yesterday's impression.
    narrow = experiment_report(loaded_db, days=1, today=yesterday_day).as_dict()
    assert [(arm["arm"], arm["impressions"]) for arm in narrow["arms"]] == [("a", 1)]
    empty = experiment_report(loaded_db, days=1, today=date(2000, 1, 1))
    assert empty.as_dict()["arms"] == [] and "no impressions" in empty.table()
