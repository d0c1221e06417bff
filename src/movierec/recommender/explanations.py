"""Why a movie is recommended: the movies the user liked that are most similar to it.

A reason is a movie the user rated at least ``LIKED_THRESHOLD`` stars whose vector in the
ranker's movie space has the highest cosine with the recommended movie's (positive cosines
only), up to ``EXPLANATIONS_PER_MOVIE`` per movie, most similar first; equal cosines go to the
smaller movie id. ``ServingModel.explain`` answers it for one user at read time (a fold-in
list); ``explain_lists`` answers it at refresh for every published list, so that a cached list
is served with its reasons and without reading the user's ratings.

The two paths compute the cosines differently (a BLAS product at read time, a compiled loop
at refresh), and in floating point the order of a sum and the CPU's fused multiply-adds change
its last bits: two movies whose cosines tie, or nearly, could then come out in a different
order on each path, or on another machine. So both compare the cosines of
``explanation_vectors``: unit vectors whose components are rounded to multiples of
``EXPLANATION_GRID`` (2^-11). Every product of two components is then a multiple of 2^-22 no
larger than 1, and every partial sum of a cosine is no larger than the product of the two
vectors' lengths (about 1), so it fits float32's 24-bit significand: each cosine is computed
*exactly*, in float32, whatever the order of the sum, the BLAS or the CPU, and ties are real
ties, broken by movie id on both paths. The rounding moves a cosine by a few thousandths at
most, less than could make one reason better than another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from movierec.recommender.data import positions
from movierec.recommender.scoring import HasIds, RatedItems, ScoredList, in_chunks

if TYPE_CHECKING:
    from movierec.recommender.just_watched import UserFollowers

# A rating at least this high makes a movie a reason ("because you liked ...").
LIKED_THRESHOLD = 4.0
EXPLANATIONS_PER_MOVIE = 2
# The components of the vectors reasons are chosen by are multiples of this (see above): fine
# enough not to matter, coarse enough that every cosine is exact in float32.
EXPLANATION_GRID = 2.0**-11


def explanation_vectors(unit_vectors: np.ndarray) -> np.ndarray:
    """``unit_vectors`` with every component rounded to a multiple of ``EXPLANATION_GRID``
    (float32 holds such values exactly): the vectors both paths compute reasons from."""
    return (np.round(unit_vectors.astype(np.float64) / EXPLANATION_GRID) * EXPLANATION_GRID).astype(
        np.float32
    )


@njit(cache=True, nogil=True)
def _nearest_liked(unit, list_rows, list_columns, liked_indptr, liked_columns, per_movie, out):  # type: ignore[no-untyped-def]
    """For each list entry ``e`` (movie column ``list_columns[e]`` of user row
    ``list_rows[e]``): the ``per_movie`` liked columns of that row with the highest positive
    cosine, best first, into ``out[e]`` (which holds -1 beforehand: it stays where there are
    fewer). The liked columns of a row are in ascending order, which is ascending movie id: a
    later one enters only if it beats a buffered cosine, so ties keep the smaller id, as
    ``np.argmax`` does. ``unit`` holds ``explanation_vectors``, so the float32 sums are exact.

    A row's liked vectors are gathered once, factor-major, for all of its entries (consecutive
    in ``list_rows``): the liked movies' sums advance side by side, which the compiler
    vectorises."""
    n_factors = unit.shape[1]
    best = np.empty(per_movie, dtype=np.float64)
    gathered_row = -1
    block = np.empty((n_factors, 0), dtype=np.float32)
    cosines = np.empty(0, dtype=np.float32)
    for e in range(len(list_columns)):
        column, row = list_columns[e], list_rows[e]
        if column < 0 or row < 0:
            continue
        first, stop = liked_indptr[row], liked_indptr[row + 1]
        n_liked = stop - first
        if row != gathered_row:
            block = np.empty((n_factors, n_liked), dtype=np.float32)
            for j in range(n_liked):
                for f in range(n_factors):
                    block[f, j] = unit[liked_columns[first + j], f]
            cosines = np.empty(n_liked, dtype=np.float32)
            gathered_row = row
        cosines[:] = 0.0
        for f in range(n_factors):
            weight = unit[column, f]
            for j in range(n_liked):
                cosines[j] += weight * block[f, j]
        filled = 0
        for j in range(n_liked):
            cosine = cosines[j]
            if cosine <= 0.0 or (filled == per_movie and cosine <= best[per_movie - 1]):
                continue
            position = filled if filled < per_movie else per_movie - 1
            if filled < per_movie:
                filled += 1
            while position > 0 and best[position - 1] < cosine:
                best[position] = best[position - 1]
                out[e, position] = out[e, position - 1]
                position -= 1
            best[position] = cosine
            out[e, position] = liked_columns[first + j]


def liked_items(
    model: HasIds, user_ids: np.ndarray, movie_ids: np.ndarray, ratings: np.ndarray
) -> RatedItems:
    """Each user's liked movies (stars >= ``LIKED_THRESHOLD``; parallel rating arrays) as CSR
    rows and columns over ``model``'s ids, columns ascending within a row."""
    liked = np.asarray(ratings) >= LIKED_THRESHOLD
    return RatedItems.from_ratings(model, np.asarray(user_ids)[liked], np.asarray(movie_ids)[liked])


def explain_lists(
    unit_vectors: np.ndarray | None,
    item_ids: np.ndarray,
    liked: RatedItems,
    user_rows: np.ndarray,
    list_movie_ids: list[np.ndarray],
    per_movie: int = EXPLANATIONS_PER_MOVIE,
) -> list[np.ndarray]:
    """The reasons of many lists at once: for list ``i`` (movie ids of user row
    ``user_rows[i]`` of ``liked``; -1 for a user it does not hold) an int64 array of shape
    (len(list), ``per_movie``) of liked movie ids, best first, -1 where there are fewer.
    ``unit_vectors`` are ``explanation_vectors``; no reasons at all (every entry -1) without
    them (a ranker with no movie space)."""
    lengths = np.array([len(movies) for movies in list_movie_ids], dtype=np.int64)
    total = int(lengths.sum())
    out = np.full((total, per_movie), -1, dtype=np.int64)
    if unit_vectors is not None and total:
        movies = np.concatenate(list_movie_ids).astype(np.int64)
        rows = np.repeat(np.asarray(user_rows, dtype=np.int64), lengths)
        _nearest_liked(
            unit_vectors, rows, positions(item_ids, movies), liked.indptr, liked.indices,
            per_movie, out,
        )  # fmt: skip
        found = out >= 0
        out[found] = item_ids[out[found]]
    return np.split(out, np.cumsum(lengths)[:-1]) if len(lengths) else []


def with_explanations(
    lists: Iterator[ScoredList],
    unit_vectors: np.ndarray | None,
    model: HasIds,
    liked: RatedItems,
    chunk: int = 1024,
    followers: UserFollowers | None = None,
) -> Iterator[ScoredList]:
    """Attach each list's reasons as the lists stream past (``chunk`` users per kernel call),
    for users and movies of ``model`` (``liked``'s rows and columns); with ``followers`` (a
    sequential ranker's), also the movie each one follows where that is its reason."""
    for pending in in_chunks(lists, chunk):
        rows = positions(model.user_ids, np.array([scored.user_id for scored in pending]))
        movies = [scored.movie_ids for scored in pending]
        reasons = explain_lists(unit_vectors, model.item_ids, liked, rows, movies)
        if followers is None:
            for scored, found in zip(pending, reasons, strict=True):
                yield scored._replace(reasons=found)
            continue
        followed = followers.followed(model.item_ids, rows, movies)
        for scored, found, follows in zip(pending, reasons, followed, strict=True):
            yield scored._replace(reasons=found, followed=follows)
