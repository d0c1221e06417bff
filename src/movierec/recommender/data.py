"""The ratings as parallel numpy arrays: what every model trains on and every evaluation splits.

A frame of Python objects does not fit MovieLens-25M in a few GB; three (or four) flat arrays do
(25M ratings: about 250 MB with timestamps). The database and the MovieLens reader both produce
this form; the recommender never sees SQL or files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numba import njit


@dataclass(frozen=True)
class RatingArrays:
    """One rating per index: ``user_ids[i]`` rated ``movie_ids[i]`` with ``ratings[i]`` stars
    at ``timestamps[i]`` (seconds since the epoch, UTC; None when not read)."""

    user_ids: np.ndarray  # int64
    movie_ids: np.ndarray  # int64
    ratings: np.ndarray  # float64 (half stars are exact in any float type)
    timestamps: np.ndarray | None = None  # int64

    def __post_init__(self) -> None:
        n = len(self.user_ids)
        if (
            len(self.movie_ids) != n
            or len(self.ratings) != n
            or (self.timestamps is not None and len(self.timestamps) != n)
        ):
            raise ValueError("rating arrays of different lengths")

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def empty(self) -> bool:
        return len(self) == 0

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> RatingArrays:
        """From a frame with columns user_id, movie_id, rating and optionally ts (datetime64,
        UTC, or integer seconds)."""
        timestamps = None
        if "ts" in frame:
            ts = frame["ts"]
            if ts.dtype == object:  # datetimes as Python objects (a database driver's)
                ts = pd.to_datetime(ts, utc=True)
            if pd.api.types.is_datetime64_any_dtype(ts):
                timestamps = ts.dt.as_unit("s").astype("int64").to_numpy(dtype=np.int64)
            else:
                timestamps = ts.to_numpy(dtype=np.int64)
        return cls(
            user_ids=frame["user_id"].to_numpy(dtype=np.int64),
            movie_ids=frame["movie_id"].to_numpy(dtype=np.int64),
            ratings=frame["rating"].to_numpy(dtype=np.float64),
            timestamps=timestamps,
        )

    def to_frame(self) -> pd.DataFrame:
        """user_id, movie_id, rating (and ts as integer seconds when known)."""
        columns = {"user_id": self.user_ids, "movie_id": self.movie_ids, "rating": self.ratings}
        if self.timestamps is not None:
            columns["ts"] = self.timestamps
        return pd.DataFrame(columns)

    def take(self, index: np.ndarray) -> RatingArrays:
        """The ratings at ``index`` (an integer array or a boolean mask), as new arrays."""
        return RatingArrays(
            self.user_ids[index],
            self.movie_ids[index],
            self.ratings[index],
            None if self.timestamps is None else self.timestamps[index],
        )


class UserItemIndex:
    """Rows of users and columns of movies in ascending raw-id order (``user_ids``,
    ``item_ids``), looked up by raw id: shared by the interaction matrix and the models."""

    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_positions(self, raw_ids: np.ndarray) -> np.ndarray:
        """Row of each raw user id, -1 for users not known here."""
        return positions(self.user_ids, raw_ids)

    def item_positions(self, raw_ids: np.ndarray) -> np.ndarray:
        """Row (column) of each raw movie id, -1 for movies not known here."""
        return positions(self.item_ids, raw_ids)


@dataclass(frozen=True)
class InteractionMatrix(UserItemIndex):
    """Who rated what, as a users x movies CSR matrix of the ratings, rows and columns in
    ascending raw-id order (so a score matrix's column order is the tie-break order).

    Ranking models read it as "who watched what" (the pattern of stored entries, or weights
    derived from the ratings); masking reads it as "what each user has already rated".
    ``times``, when the ratings' timestamps were given, holds each stored rating's time aligned
    with ``matrix.data`` (the order of a user's ratings, for time-aware rankers).
    """

    user_ids: np.ndarray  # int64, ascending
    item_ids: np.ndarray  # int64, ascending
    matrix: sp.csr_matrix  # float32 ratings; rows sorted by column index
    times: np.ndarray | None = None  # int64 epoch seconds, aligned with matrix.data

    @classmethod
    def from_ratings(
        cls,
        ratings: RatingArrays,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> InteractionMatrix:
        """Build from rating arrays. ``user_ids``/``item_ids`` (ascending) fix the rows and
        columns, e.g. to those of a trained model; ratings of ids not among them are dropped."""
        users = np.unique(ratings.user_ids) if user_ids is None else np.asarray(user_ids)
        items = np.unique(ratings.movie_ids) if item_ids is None else np.asarray(item_ids)
        rows = positions(users, ratings.user_ids)
        columns = positions(items, ratings.movie_ids)
        known = (rows >= 0) & (columns >= 0)
        if ratings.timestamps is not None:
            matrix, times = _csr_with_times(
                rows[known], columns[known], ratings.ratings[known], ratings.timestamps[known],
                (len(users), len(items)),
            )  # fmt: skip
            return cls(users.astype(np.int64), items.astype(np.int64), matrix, times)
        matrix = sp.csr_matrix(
            (ratings.ratings[known].astype(np.float32), (rows[known], columns[known])),
            shape=(len(users), len(items)),
        )
        matrix.sum_duplicates()  # also sorts each row's column indices
        return cls(users.astype(np.int64), items.astype(np.int64), matrix)

    def item_counts(self) -> np.ndarray:
        """How many users rated each movie (column order)."""
        return np.diff(self.matrix.tocsc().indptr).astype(np.int64)

    def binary(self) -> sp.csr_matrix:
        """The same pattern with every stored entry 1 (float32): "who watched what"."""
        pattern = self.matrix.copy()
        pattern.data = np.ones_like(pattern.data)
        return pattern


def _csr_with_times(
    rows: np.ndarray,
    columns: np.ndarray,
    stars: np.ndarray,
    timestamps: np.ndarray,
    shape: tuple[int, int],
) -> tuple[sp.csr_matrix, np.ndarray]:
    # The CSR built by hand, so the times follow the same order as the stars: rows, then
    # columns ascending. The database hands the ratings over in that order already (one per
    # user and movie), and then they are used as they are: at 25M ratings every sorted copy
    # costs 200 MB. Otherwise they are sorted; a (user, movie) pair given twice sums its stars
    # as scipy would and keeps the later time.
    if not _in_csr_order(rows, columns):
        keys = rows * np.int64(shape[1]) + columns
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        stars = np.add.reduceat(stars[order], starts)
        timestamps = np.maximum.reduceat(timestamps[order], starts)
        rows, columns = keys[starts] // shape[1], keys[starts] % shape[1]
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    matrix = sp.csr_matrix(
        (stars.astype(np.float32), columns.astype(np.int32), indptr), shape=shape
    )
    return matrix, np.asarray(timestamps, dtype=np.int64)


@njit(cache=True, nogil=True)
def _in_csr_order(rows: np.ndarray, columns: np.ndarray) -> bool:
    for i in range(1, len(rows)):
        if rows[i] < rows[i - 1] or (rows[i] == rows[i - 1] and columns[i] <= columns[i - 1]):
            return False
    return True


def positions(sorted_ids: np.ndarray, raw_ids: np.ndarray) -> np.ndarray:
    """Index of each raw id in the ascending ``sorted_ids``, -1 where it is absent."""
    raw = np.asarray(raw_ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.full(raw.shape, -1, dtype=np.int64)
    found = np.searchsorted(sorted_ids, raw).clip(max=len(sorted_ids) - 1)
    return np.where(sorted_ids[found] == raw, found, -1).astype(np.int64)
