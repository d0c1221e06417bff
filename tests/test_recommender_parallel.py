"""map_in_order: batches on a thread pool, results in order, a bounded number in flight."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from movierec.recommender.parallel import batch_slices, map_in_order


def test_results_come_in_batch_order_whatever_finishes_first() -> None:
    def slow_first(batch: int) -> int:
        time.sleep(0.02 if batch % 3 == 0 else 0.0)  # early batches finish last
        return batch * batch

    assert list(map_in_order(slow_first, range(30), threads=3)) == [b * b for b in range(30)]


def test_batches_run_at_the_same_time() -> None:
    # Both batches must be inside the function at once to pass the barrier.
    barrier = threading.Barrier(2, timeout=10)

    def meet(batch: int) -> int:
        barrier.wait()
        return batch

    assert list(map_in_order(meet, [1, 2], threads=2)) == [1, 2]


def test_no_more_than_the_window_is_ahead_of_the_consumer() -> None:
    lock = threading.Lock()
    started: list[int] = []

    def record(batch: int) -> int:
        with lock:
            started.append(batch)
        return batch

    results = map_in_order(record, range(100), threads=2, window=4)
    for consumed, batch in enumerate(results):
        time.sleep(0.001)  # a slow consumer
        with lock:
            assert len(started) <= consumed + 1 + 4, "more than the window in flight"
        assert batch == consumed


def test_an_error_is_raised_in_place_and_stops_the_rest() -> None:
    seen: list[int] = []

    def fail_at_five(batch: int) -> int:
        seen.append(batch)
        if batch == 5:
            raise RuntimeError("batch 5 failed")
        return batch

    results = map_in_order(fail_at_five, range(1000), threads=2, window=4)
    got = []
    with pytest.raises(RuntimeError, match="batch 5 failed"):
        for value in results:
            got.append(value)
    assert got == [0, 1, 2, 3, 4]
    assert max(seen) < 5 + 4 + 1  # nothing submitted beyond the window


def test_closing_early_starts_nothing_more() -> None:
    seen: list[int] = []
    results = map_in_order(seen.append, range(1000), threads=2, window=2)
    next(results)
    results.close()
    time.sleep(0.05)
    assert len(seen) <= 3


def test_one_thread_runs_in_the_caller() -> None:
    caller = threading.get_ident()
    idents = list(map_in_order(lambda _: threading.get_ident(), range(3), threads=1))
    assert idents == [caller] * 3


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="threads"):
        list(map_in_order(abs, [1], threads=0))
    with pytest.raises(ValueError, match="window"):
        list(map_in_order(abs, [1], threads=4, window=2))
    with pytest.raises(ValueError, match="batch_size"):
        list(batch_slices(10, 0))


def test_scoring_like_batches_match_the_serial_result() -> None:
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(1000, 16)), rng.normal(size=(300, 16))

    def best(rows: slice) -> np.ndarray:
        return np.argsort(-(users[rows] @ items.T), axis=1)[:, :5]

    parallel = np.vstack(list(map_in_order(best, batch_slices(1000, 64), threads=2)))
    np.testing.assert_array_equal(parallel, best(slice(0, 1000)))
    assert [s.stop - s.start for s in batch_slices(10, 4)] == [4, 4, 2]
