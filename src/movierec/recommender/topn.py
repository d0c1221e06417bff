"""Top-N selection kernels: mask the rated movies and keep each row's ``k`` best in one pass.

A row of scores is visited once, in column order, with a sorted buffer of the ``k`` best so
far: a score enters only if it beats the buffer's last one, and then goes after every buffered
score it does not beat. Equal scores therefore rank by lower column (ascending raw movie id),
also at the cut-off, exactly as a full stable sort by descending score would. Non-finite
scores (masked movies) never enter, so a row with fewer than ``k`` left gets a shorter list.

``blend_prepare`` and ``blend_select`` are the same selection for ``BlendedRanker`` (the
default ranker): the blended score ``weight * clip(stars) + base / max|base|`` is bounded,
since the predicted stars ``(mu + b_u + b_i) + p_u . q_i`` lie within ``|p_u| |q_i|`` of the
biases (and within the clip); the k-th best lower bound is a threshold that every movie of the
list must reach with its upper bound. When few movies can, only those get their predicted stars
computed (a dot product each) instead of the full users x movies product of the rating model.

Plain loops compiled by numba, without fast-math (no reordered sums), GIL released: the
scoring threads run them side by side.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _insert(values, columns, filled, k, value, column):  # type: ignore[no-untyped-def]
    # values[:filled] descending, ties in column order; ``value`` comes from a higher column
    # than every buffered one, so it goes after the buffered scores it does not beat.
    if filled == k:
        position = k - 1
    else:
        position = filled
        filled += 1
    while position > 0 and values[position - 1] < value:
        values[position] = values[position - 1]
        columns[position] = columns[position - 1]
        position -= 1
    values[position] = value
    columns[position] = column
    return filled


@njit(cache=True, nogil=True)
def select_rows(scores, indptr, indices, first, k, columns, values, counts):  # type: ignore[no-untyped-def]
    """For each row ``r`` of ``scores`` (user row ``first + r``): set the rated columns
    ``indices[indptr[first + r]:indptr[first + r + 1]]`` to -inf (in place), then write the
    ``k`` best columns and their scores (float64) to ``columns[r]``/``values[r]``, best first,
    and how many there are (fewer when fewer are finite) to ``counts[r]``. ``k`` >= 1."""
    n_rows, n_cols = scores.shape
    for r in range(n_rows):
        row = scores[r]
        for p in range(indptr[first + r], indptr[first + r + 1]):
            row[indices[p]] = -np.inf
        best, picked = values[r], columns[r]
        filled = 0
        for j in range(n_cols):
            value = np.float64(row[j])
            if filled == k:
                if value > best[k - 1] and value < np.inf:
                    filled = _insert(best, picked, filled, k, value, j)
            elif -np.inf < value < np.inf:
                filled = _insert(best, picked, filled, k, value, j)
        counts[r] = filled


@njit(cache=True, nogil=True, inline="always")
def _stars_bounds(offset, bias, reach, low, high):  # type: ignore[no-untyped-def]
    # |p_u . q_i| <= |p_u| |q_i| (Cauchy-Schwarz; ``reach`` is that product with a margin far
    # above any rounding of the dot product), and rounding is monotone: the computed stars
    # ``clip((mu + b_u + b_i) + dot)`` lie within these.
    centre = offset + bias
    below, above = centre - reach, centre + reach
    return min(max(below, low), high), min(max(above, low), high)


@njit(cache=True, nogil=True)
def blend_prepare(  # type: ignore[no-untyped-def]
    base, user_norms, user_offsets, item_norms, item_bias, weight, low, high,
    indptr, indices, first, k, thresholds,
):  # fmt: skip
    """First half of ``BlendedRanker``'s selection, per row ``r`` (user row ``first + r``):
    normalise ``base`` in place (``b / max|b|``, in ``base``'s precision, as ``_blend``),
    set the rated movies to NaN, and store in ``thresholds[r]`` the k-th best lower bound of
    the blended scores (-inf when fewer than ``k`` movies are left): a movie whose upper bound
    is below it cannot make the list. Returns how many movies can (the candidates)."""
    n_rows, n_cols = base.shape
    bounds = np.empty(k)
    bound_columns = np.empty(k, dtype=np.int64)
    candidates = 0
    for r in range(n_rows):
        row = base[r]
        largest = abs(row[0])
        for j in range(1, n_cols):
            magnitude = abs(row[j])
            if magnitude > largest:
                largest = magnitude
        if largest > 0:  # else every score is 0: divided by 1, as _blend does
            for j in range(n_cols):
                row[j] = row[j] / largest
        for p in range(indptr[first + r], indptr[first + r + 1]):
            row[indices[p]] = np.nan
        offset, norm = user_offsets[r], user_norms[r] * (1.0 + 1e-6)
        filled = 0
        for j in range(n_cols):
            lowest, _ = _stars_bounds(offset, item_bias[j], norm * item_norms[j], low, high)
            value = lowest * weight + np.float64(row[j])
            if filled == k:
                if value > bounds[k - 1] and value < np.inf:
                    filled = _insert(bounds, bound_columns, filled, k, value, j)
            elif -np.inf < value < np.inf:
                filled = _insert(bounds, bound_columns, filled, k, value, j)
        threshold = bounds[k - 1] if filled == k else -np.inf
        thresholds[r] = threshold
        for j in range(n_cols):
            _, highest = _stars_bounds(offset, item_bias[j], norm * item_norms[j], low, high)
            if highest * weight + np.float64(row[j]) >= threshold:  # False for NaN
                candidates += 1
    return candidates


@njit(cache=True, nogil=True)
def blend_select(  # type: ignore[no-untyped-def]
    base, thresholds, user_factors, user_norms, user_offsets, item_factors, item_norms,
    item_bias, dots, use_dots, weight, low, high, k, columns, values, counts,
):  # fmt: skip
    """Second half, after ``blend_prepare``: the blended score of every candidate,
    ``clip((mu + b_u + b_i) + p_u . q_i) * weight + b / max|b|`` (the operations and
    roundings of ``BlendedRanker._blend``), and the selection of ``select_rows``. The dot
    products are ``dots[r, j]`` when ``use_dots`` (a BLAS product of the whole block: then
    the scores are bit for bit those of ``score_users``), else summed here for the candidates
    alone (four partial sums: a few ulps from BLAS' own order)."""
    n_rows, n_cols = base.shape
    n_factors = item_factors.shape[1]
    candidates = np.empty(n_cols, dtype=np.int64)
    stars = np.empty(n_cols)
    for r in range(n_rows):
        row = base[r]
        threshold = thresholds[r]
        offset, reach = user_offsets[r], user_norms[r] * (1.0 + 1e-6)
        n = 0
        for j in range(n_cols):
            _, highest = _stars_bounds(offset, item_bias[j], reach * item_norms[j], low, high)
            if highest * weight + np.float64(row[j]) >= threshold:  # False for masked (NaN)
                candidates[n] = j
                n += 1
        # The dot products on their own (no branches: the loads of many movies overlap).
        if use_dots:
            for c in range(n):
                stars[c] = dots[r, candidates[c]]
        else:
            for c in range(n):
                j = candidates[c]
                s0 = s1 = s2 = s3 = 0.0
                for f in range(0, n_factors - 3, 4):
                    s0 += user_factors[r, f] * item_factors[j, f]
                    s1 += user_factors[r, f + 1] * item_factors[j, f + 1]
                    s2 += user_factors[r, f + 2] * item_factors[j, f + 2]
                    s3 += user_factors[r, f + 3] * item_factors[j, f + 3]
                for f in range(n_factors - n_factors % 4, n_factors):
                    s0 += user_factors[r, f] * item_factors[j, f]
                stars[c] = (s0 + s1) + (s2 + s3)
        best, picked = values[r], columns[r]
        filled = 0
        for c in range(n):
            j = candidates[c]
            predicted = (offset + item_bias[j]) + stars[c]
            if predicted < low:
                predicted = low
            elif predicted > high:
                predicted = high
            value = predicted * weight + np.float64(row[j])
            if filled == k:
                if value > best[k - 1] and value < np.inf:
                    filled = _insert(best, picked, filled, k, value, j)
            elif -np.inf < value < np.inf:
                filled = _insert(best, picked, filled, k, value, j)
        counts[r] = filled
