"""The ratings as parallel numpy arrays: what every model trains on and every evaluation splits.

A frame of Python objects does not fit MovieLens-25M in a few GB; three (or four) flat arrays do
(25M ratings: about 250 MB with timestamps). The database and the MovieLens reader both produce
this form; the recommender never sees SQL or files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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
        if len(self.movie_ids) != n or len(self.ratings) != n or (
            self.timestamps is not None and len(self.timestamps) != n
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
