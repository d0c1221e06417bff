"""The Redis store of the engine's results: atomic versioned publishing, readers during a
publish, failed and killed publishes, top-list reads and the job lock. Real Redis / Valkey."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from movierec.cache import CacheStore
from movierec.cache.lists import decode_list, encode_list
from movierec.cache.locks import LockBusy
from movierec.cache.statistics import MovieStat
from movierec.cache.versions import BUILD_TTL_SECONDS, GRACE_TTL_SECONDS


def _lists(n_users: int, offset: int) -> list[tuple[int, list[int]]]:
    return [
        (user, [offset + user, offset + user + 1, offset + user + 2]) for user in range(n_users)
    ]


def _version_keys(cache: CacheStore, kind: str, version: str) -> list[str]:
    return list(cache.client.scan_iter(match=cache.key(kind, version) + "*"))


def test_published_lists_are_read_back_and_the_old_version_retires(cache: CacheStore) -> None:
    first = cache.publish_recommendations(_lists(5, 100))
    assert cache.recommendations_for(3) == [103, 104, 105]
    assert cache.recommendations_for(99) is None
    assert cache.recommendation_users() == 5
    second = cache.publish_recommendations(_lists(4, 200))
    assert cache.current_version("recs") == second != first
    assert cache.recommendations_for(3) == [203, 204, 205]
    assert cache.recommendations_for(4) is None  # not in the new set: no stale leftovers
    assert 0 < cache.client.ttl(cache.key("recs", first)) <= GRACE_TTL_SECONDS
    assert cache.client.ttl(cache.key("recs", second)) == -1  # the current one never expires


def test_lists_are_read_back_with_their_reasons_and_older_values_still_read(
    cache: CacheStore,
) -> None:
    reasons = np.array([[7, 9], [-1, -1], [8, -1]])
    scored = (1, np.array([10, 20, 30]), np.array([0.9, 0.5, 0.25]), np.array([4.5, np.nan, 3.0]))
    cache.publish_recommendations([(*scored, reasons), (2, *scored[1:]), (3, [10, 20])])
    explained = cache.published_list(1).cached
    assert explained is not None and explained.movie_ids == [10, 20, 30]
    assert explained.scores == {10: 0.9, 20: 0.5, 30: 0.25}
    assert explained.predicted_ratings == {10: 4.5, 30: 3.0}
    assert explained.reasons == {10: [7, 9], 30: [8]}  # none for 20: left out
    # Published without reasons (or before them): known to have none, not "no reasons".
    unexplained = [cache.published_list(2).cached, cache.published_list(3).cached]
    assert [c.reasons for c in unexplained if c is not None] == [None, None]
    assert decode_list("10:0.9:4.500,20:0.5:").reasons is None
    assert decode_list("10:0.9:4.500:,20:0.5::3").reasons == {20: [3]}
    assert all(c.just_watched == frozenset() for c in (explained, *unexplained) if c is not None)


def test_a_reason_just_watched_is_stored_as_the_movie_it_follows_and_read_back_as_such(
    cache: CacheStore,
) -> None:
    reasons = np.array([[7, 9], [-1, -1], [8, -1]])
    followed = np.array([-1, 1, 5])  # movie 1 is a movie like any other, not "none"
    scored = (np.array([10, 20, 30]), np.array([0.9, 0.5, 0.25]), np.array([4.5, 4.0, 3.0]))
    # The movie followed in place of the liked ones, as its negative id: a reader from before
    # the kind still parses it (and finds no such movie).
    value = encode_list(*scored, reasons, followed)
    assert value == "10:0.9:4.500:7;9,20:0.5:4.000:-1,30:0.25:3.000:-5"
    cache.publish_recommendations([(1, *scored, reasons, followed), (2, *scored, reasons)])
    listed = cache.published_list(1).cached
    assert listed is not None
    assert listed.reasons == {10: [7, 9], 20: [1], 30: [5]}
    assert listed.just_watched == {20, 30}
    head = cache.published_list(1).head(2)
    assert head is not None and head.just_watched == {20} and head.reasons == {10: [7, 9], 20: [1]}
    # Another ranker's list (no movie followed): as before.
    other = cache.published_list(2).cached
    assert other is not None and other.just_watched == frozenset()
    assert other.reasons == {10: [7, 9], 30: [8]}


def test_change_marks_only_move_forward_and_a_refresh_forgets_what_it_read(
    cache: CacheStore,
) -> None:
    assert cache.published_list(5).changed_at is None
    cache.mark_user_changed(5, 200.5)
    cache.mark_user_changed(5, 100.0)  # a mark that arrives late does not undo a later one
    cache.mark_user_changed(6, 300.0)
    assert cache.published_list(5).changed_at == 200.5
    assert cache.forget_changes_before(250.0) == 1
    assert cache.published_list(5).changed_at is None
    assert cache.published_list(6).changed_at == 300.0


def test_forget_user_drops_only_that_users_list(cache: CacheStore) -> None:
    cache.publish_recommendations(_lists(3, 0))
    cache.forget_user(1)
    assert cache.recommendations_for(1) is None
    assert cache.recommendations_for(2) == [2, 3, 4]


def test_reader_during_publish_sees_old_then_new_never_a_mix(cache: CacheStore) -> None:
    n_users = 400
    old = dict(_lists(n_users, 1000))
    new = dict(_lists(n_users, 5000))
    cache.publish_recommendations(old.items())
    writer = CacheStore(cache.url, cache.prefix, chunk_size=7)  # many round trips
    seen: list[str] = []
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        reader = CacheStore(cache.url, cache.prefix)
        switched = False
        while not stop.is_set():
            for user in range(0, n_users, 37):
                got = reader.recommendations_for(user)
                if got == new[user]:
                    switched = True
                    seen.append("new")
                elif got == old[user] and not switched:
                    seen.append("old")
                else:
                    errors.append(f"user {user}: {got} (after switch: {switched})")
        reader.close()

    thread = threading.Thread(target=read)
    thread.start()

    def slow(lists):  # type: ignore[no-untyped-def]
        for i, item in enumerate(lists):
            if i % 50 == 0:
                time.sleep(0.02)
            yield item

    writer.publish_recommendations(slow(new.items()))
    time.sleep(0.05)
    stop.set()
    thread.join()
    writer.close()
    assert not errors
    assert "old" in seen and "new" in seen  # the reader really ran across the switch


def test_failed_publish_keeps_the_previous_version_and_leaves_nothing(cache: CacheStore) -> None:
    previous = cache.publish_recommendations(_lists(10, 0))

    def failing(lists):  # type: ignore[no-untyped-def]
        for i, item in enumerate(lists):
            if i == 6:
                raise RuntimeError("scoring failed")
            yield item

    store = CacheStore(cache.url, cache.prefix, chunk_size=3)
    with pytest.raises(RuntimeError, match="scoring failed"):
        store.publish_recommendations(failing(_lists(10, 500)), version="broken")
    store.close()
    assert cache.current_version("recs") == previous
    assert cache.recommendations_for(7) == [7, 8, 9]
    assert _version_keys(cache, "recs", "broken") == []


def test_killed_publish_keeps_the_previous_version_and_its_keys_expire(cache: CacheStore) -> None:
    previous = cache.publish_recommendations(_lists(10, 0))
    script = textwrap.dedent(
        f"""
        import os
        from movierec.cache import CacheStore

        def dying():
            for user in range(100):
                if user == 50:
                    os._exit(9)  # no clean-up runs, as with SIGKILL
                yield user, [1, 2, 3]

        CacheStore({cache.url!r}, {cache.prefix!r}, chunk_size=10).publish_recommendations(
            dying(), version="killed"
        )
        """
    )
    result = subprocess.run([sys.executable, "-c", script], check=False)
    assert result.returncode == 9
    assert cache.current_version("recs") == previous
    assert cache.recommendations_for(3) == [3, 4, 5]
    leftovers = _version_keys(cache, "recs", "killed")
    assert leftovers  # it did write part of a version ...
    for key in leftovers:  # ... which expires on its own
        assert 0 < cache.client.ttl(key) <= BUILD_TTL_SECONDS


def test_statistics_top_list_reads(cache: CacheStore) -> None:
    assert cache.top_movie_ids(0, 10) is None  # nothing published yet
    assert cache.top_movies(0, 10) == []
    stats = [MovieStat(30, 9, 4.5), MovieStat(10, 9, 4.0), MovieStat(20, 2, None)]
    cache.publish_statistics(iter(stats))
    assert cache.top_movie_ids(0, 10) == [30, 10, 20]
    assert cache.top_movie_ids(1, 2) == [10]
    assert cache.top_movie_ids(5, 10) == []
    assert cache.top_movies(0, 2) == stats[:2]
    assert cache.top_movies(0, 100) == stats
    assert cache.movie_average(20) is None
    assert cache.movie_stat(10) == MovieStat(10, 9, 4.0)


def test_statistics_of_chosen_movies(cache: CacheStore) -> None:
    assert cache.movie_stats([10, 20]) is None  # nothing published yet
    stats = [MovieStat(30, 9, 4.5), MovieStat(10, 9, 4.0), MovieStat(20, 2, None)]
    cache.publish_statistics(iter(stats))
    assert cache.movie_stats([20, 99, 30]) == {20: stats[2], 30: stats[0]}  # 99: no statistics
    assert cache.movie_stats([]) == {}


def test_top_list_longer_than_a_lua_unpack(cache: CacheStore) -> None:
    stats = [MovieStat(i, 10_000 - i, 3.0) for i in range(1, 2501)]
    cache.publish_statistics(stats)
    assert cache.top_movies(0, 2500) == stats
    assert cache.movie_stats(range(2500, 0, -1)) == {stat.movie_id: stat for stat in stats}


def test_job_lock_is_exclusive_and_released(cache: CacheStore) -> None:
    other = CacheStore(cache.url, cache.prefix)
    with cache.hold_lock("demo-job"):
        assert cache.lock_holder("demo-job") is not None
        busy = pytest.raises(LockBusy, match="another demo-job job is running")
        with busy, other.hold_lock("demo-job"):
            pass
        with other.hold_lock("another-job"):  # locks are per job
            pass
    assert cache.lock_holder("demo-job") is None
    with other.hold_lock("demo-job"):
        pass
    other.close()


def test_job_lock_is_renewed_while_held(cache: CacheStore) -> None:
    other = CacheStore(cache.url, cache.prefix)
    with cache.hold_lock("long-job", ttl=0.6):
        time.sleep(1.5)  # well past the TTL: only renewal keeps it
        with pytest.raises(LockBusy), other.hold_lock("long-job", ttl=0.6):
            pass
    other.close()


def test_lock_of_a_killed_holder_lapses(cache: CacheStore) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from movierec.cache import CacheStore

        with CacheStore({cache.url!r}, {cache.prefix!r}).hold_lock("killed-job", ttl=1):
            os._exit(9)
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 9
    with pytest.raises(LockBusy), cache.hold_lock("killed-job"):
        pass
    time.sleep(1.2)
    with cache.hold_lock("killed-job"):
        pass
