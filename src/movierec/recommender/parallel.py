"""Run a per-batch function on a pool of threads, results in input order, memory bounded.

Scoring a batch of users is a matrix product and a partition (numpy, which releases the GIL),
so threads of one process use every core without copying the model into other processes.
Results come back in the order of the batches (the lists reach Redis in user order, and a
refresh is deterministic), and at most ``window`` batches are in flight (submitted but not yet
handed to the consumer): the scores held at once are bounded by the batch size times the
window, whatever the number of users, and a slow consumer (Redis) holds the producers back.

Mind BLAS' own threads: with N scoring threads, each matrix product should run on one
(``OPENBLAS_NUM_THREADS=1`` / ``OMP_NUM_THREADS=1`` or threadpoolctl), or 2 cores run 2 x 2.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Batch = TypeVar("Batch")
Result = TypeVar("Result")


def map_in_order(
    function: Callable[[Batch], Result],
    batches: Iterable[Batch],
    *,
    threads: int,
    window: int | None = None,
) -> Iterator[Result]:
    """``function(batch)`` for every batch, on ``threads`` threads, yielded in batch order.

    At most ``window`` (default ``2 * threads``) batches are submitted ahead of the consumer.
    An exception in a batch is raised at that batch's place in the order; the batches after
    it that were already submitted are cancelled or waited for, none is started afterwards.
    Closing the iterator early does the same. ``threads=1`` runs everything in the caller's
    thread (no pool), so callers need no special case.
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    window = 2 * threads if window is None else window
    if window < threads:
        raise ValueError("window must be at least the number of threads")
    if threads == 1:
        yield from map(function, batches)
        return
    pending: deque[Future[Result]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="movierec-batch") as pool:
        try:
            for batch in batches:
                if len(pending) >= window:
                    yield pending.popleft().result()
                pending.append(pool.submit(function, batch))
            while pending:
                yield pending.popleft().result()
        finally:
            # An error, or the consumer stopped: start nothing more (running ones finish).
            for future in pending:
                future.cancel()


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """``slice(0, b), slice(b, 2b), ...`` covering ``range(n)``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
