"""What people rate next: a pruned movie-to-movie transition table, learned from the order of
every user's ratings.

Each user's ratings, oldest first (equal times by movie id), form a sequence. For every movie
``i`` of a sequence, the movies of the next ``window`` ratings of the same user are its
successors there; over all users, ``count(i -> j)`` is how many times ``j`` followed ``i`` so.
The table keeps, for each movie, its ``successors`` most frequent followers (equal counts: the
lower column first) with ``count(i -> j) / count(i)``: of the people who rated ``i``, the share
who rated ``j`` within their next ``window`` ratings. A first-order Markov chain over ratings
with a window, pruned so that it is sparse: a dense movies x movies table at 59k movies would
be 14 GB, the pruned one is at most ``movies x successors`` entries.

The counting is a numba loop per source movie over its occurrences (an index of where each
movie occurs in the sequences), with one dense counter per thread reset through the list of
the columns it touched: memory is the sequences, that index and the pruned table, never a
pair per (movie, follower) occurrence (25M ratings with a window of 20 would be 500M pairs).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit

from movierec.recommender.parallel import batch_slices, map_in_order


@njit(cache=True, nogil=True)
def _row_sequences(indptr, indices, times):  # type: ignore[no-untyped-def]
    # Each row's columns reordered by time; a row's columns come sorted, so a stable sort by
    # time leaves equal times in column order.
    out = np.empty_like(indices)
    for row in range(len(indptr) - 1):
        start, stop = indptr[row], indptr[row + 1]
        order = np.argsort(times[start:stop], kind="mergesort")
        for p in range(stop - start):
            out[start + p] = indices[start + order[p]]
    return out


def user_sequences(indptr: np.ndarray, indices: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The columns of every CSR row (a user's rated movies) in the order they were rated:
    oldest first, equal times in column order. Same shape as ``indices``; ``indptr`` still
    delimits the users."""
    return _row_sequences(indptr, indices.astype(np.int32), times)


@njit(cache=True, nogil=True)
def _occurrence_index(sequence, n_items):  # type: ignore[no-untyped-def]
    # Where each movie occurs in the sequences, movie by movie (a counting sort): int32
    # positions, half of what an argsort's int64 indices would take.
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    for item in sequence:
        indptr[item + 1] += 1
    for item in range(n_items):
        indptr[item + 1] += indptr[item]
    filled = indptr[:-1].copy()
    positions = np.empty(len(sequence), dtype=np.int32)
    for position in range(len(sequence)):
        item = sequence[position]
        positions[filled[item]] = position
        filled[item] += 1
    return indptr, positions


@njit(cache=True, nogil=True)
def _count_successors(  # type: ignore[no-untyped-def]
    first, stop, sequence, users_indptr, occurrences_indptr, occurrences, window, successors,
    n_items, out_columns, out_values, out_counts,
):  # fmt: skip
    counts = np.zeros(n_items, dtype=np.float64)
    touched = np.empty(n_items, dtype=np.int64)
    for item in range(first, stop):
        n_touched = 0
        for o in range(occurrences_indptr[item], occurrences_indptr[item + 1]):
            position = occurrences[o]
            # The end of this position's user: the followers stop there.
            end = users_indptr[np.searchsorted(users_indptr, position, side="right")]
            last = min(position + window, end - 1)
            for q in range(position + 1, last + 1):
                follower = sequence[q]
                if counts[follower] == 0.0:
                    touched[n_touched] = follower
                    n_touched += 1
                counts[follower] += 1.0
        if n_touched == 0:
            out_counts[item - first] = 0
            continue
        # Most frequent first, equal counts by column: one integer key per follower.
        keys = np.empty(n_touched, dtype=np.int64)
        for t in range(n_touched):
            follower = touched[t]
            keys[t] = -np.int64(counts[follower]) * n_items + follower
        order = np.argsort(keys)
        kept = min(successors, n_touched)
        seen = occurrences_indptr[item + 1] - occurrences_indptr[item]
        for t in range(kept):
            follower = touched[order[t]]
            out_columns[item - first, t] = follower
            out_values[item - first, t] = counts[follower] / seen
        out_counts[item - first] = kept
        for t in range(n_touched):
            counts[touched[t]] = 0.0


def transition_table(
    indptr: np.ndarray,
    sequence: np.ndarray,
    n_items: int,
    window: int,
    successors: int,
    *,
    threads: int = 1,
    batch_items: int = 2048,
) -> sp.csr_matrix:
    """The pruned ``n_items x n_items`` transition table (float32 CSR, each row's columns by
    descending share) of the user sequences ``sequence`` (``user_sequences``) delimited by
    ``indptr``."""
    users_indptr = np.asarray(indptr, dtype=np.int64)
    occurrences_indptr, occurrences = _occurrence_index(sequence, n_items)

    def count(items: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = items.stop - items.start
        columns = np.empty((size, successors), dtype=np.int32)
        values = np.empty((size, successors), dtype=np.float32)
        kept = np.empty(size, dtype=np.int64)
        _count_successors(
            items.start, items.stop, sequence, users_indptr, occurrences_indptr, occurrences,
            window, successors, n_items, columns, values, kept,
        )  # fmt: skip
        mask = np.arange(successors) < kept[:, None]
        return kept, columns[mask], values[mask]

    parts = list(map_in_order(count, batch_slices(n_items, batch_items), threads=threads))
    kept = np.concatenate([part[0] for part in parts]) if parts else np.zeros(0, np.int64)
    table_indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(kept, out=table_indptr[1:])
    columns = np.concatenate([part[1] for part in parts]) if parts else np.zeros(0, np.int32)
    values = np.concatenate([part[2] for part in parts]) if parts else np.zeros(0, np.float32)
    return sp.csr_matrix((values, columns, table_indptr), shape=(n_items, n_items))


def latest_ratings(
    indptr: np.ndarray, sequence: np.ndarray, n_items: int, recent: int, decay: float
) -> sp.csr_matrix:
    """A users x movies matrix of each user's ``recent`` latest rated movies (``sequence``,
    delimited by ``indptr``), weighted ``decay ** (ratings made after it)``. Built from those
    positions alone: users x ``recent`` entries, not an array per rating."""
    indptr = np.asarray(indptr, dtype=np.int64)
    n_users = len(indptr) - 1
    first = np.maximum(indptr[:-1], indptr[1:] - recent)
    counts = indptr[1:] - first
    positions = concatenated_ranges(first, counts)
    from_end = np.repeat(indptr[1:], counts) - 1 - positions
    return sp.csr_matrix(
        (decayed(from_end, decay), sequence[positions],
         np.r_[0, np.cumsum(counts)]),
        shape=(n_users, n_items),
    )  # fmt: skip


def concatenated_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``range(starts[i], starts[i] + lengths[i])`` for every ``i``, one after the other, as one
    int64 array: the entries of chosen CSR rows (or parts of rows) without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths) + np.arange(
        lengths.sum()
    )


def decayed(from_end: np.ndarray, decay: float) -> np.ndarray:
    """The weight of a rating with ``from_end`` ratings made after it: ``decay ** from_end``,
    in float32. One function for the refresh's latest ratings and for the read path's
    "because you just watched" (``recommender.just_watched``), so both weigh them alike.

    The powers are repeated float32 products, not ``np.power``: NumPy computes a float32 power
    with SIMD code on CPUs with AVX-512 and with the C library's elsewhere, which may differ in
    the last bit, and the refresh and the web tier may well run on different CPUs."""
    from_end = np.asarray(from_end, dtype=np.int64)
    steps = int(from_end.max()) if len(from_end) else 0
    factors = np.full(steps + 1, np.float32(decay), dtype=np.float32)
    factors[0] = 1.0
    return np.cumprod(factors, dtype=np.float32)[from_end]
