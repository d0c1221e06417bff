"""Movie statistics: how many users rated or watched each movie, its average rating, and the
"top movies" order (votes desc, then average desc) used for cold start and backfill."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["movie_id", "votes", "avg_rating"]


def aggregate_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per-movie votes and mean rating of a ratings frame (columns movie_id, rating).

    The database computes the same aggregates with one GROUP BY; this is the in-memory
    equivalent for frames already loaded (and the reference in tests)."""
    grouped = ratings.groupby("movie_id", sort=True)["rating"].agg(["count", "mean"])
    return pd.DataFrame(
        {
            "movie_id": grouped.index.to_numpy(dtype=np.int64),
            "votes": grouped["count"].to_numpy(dtype=np.int64),
            "avg_rating": grouped["mean"].to_numpy(dtype=np.float64),
        }
    )


def rank_movies(aggregates: pd.DataFrame, min_votes: int) -> pd.DataFrame:
    """The movies in top order with their statistics.

    ``aggregates`` has one row per movie: movie_id, votes (0 for a movie nobody rated) and
    avg_rating. The average is kept only for movies with at least ``min_votes`` votes (NaN
    otherwise: too few to mean anything). Order: votes desc, then average desc (movies without
    one last among equal votes), then movie id asc so the order is fully deterministic.
    """
    frame = aggregates[COLUMNS].copy()
    frame["movie_id"] = frame["movie_id"].astype(np.int64)
    frame["votes"] = frame["votes"].fillna(0).astype(np.int64)
    frame["avg_rating"] = frame["avg_rating"].astype(np.float64)
    frame.loc[frame["votes"] < min_votes, "avg_rating"] = np.nan
    order = _order(
        frame["movie_id"].to_numpy(), frame["votes"].to_numpy(), frame["avg_rating"].to_numpy()
    )
    return frame.iloc[order].reset_index(drop=True)


def top_order(
    movie_ids: np.ndarray, votes: np.ndarray, rating_sums: np.ndarray, min_votes: int
) -> np.ndarray:
    """Indices of the movies in top order (the order of ``rank_movies``), from parallel arrays
    of ids, vote counts and rating sums: what the popularity ranker ranks by."""
    votes = np.asarray(votes, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        averages = np.where(votes >= max(min_votes, 1), rating_sums / votes, np.nan)
    return _order(np.asarray(movie_ids), votes, averages)


def _order(movie_ids: np.ndarray, votes: np.ndarray, averages: np.ndarray) -> np.ndarray:
    # Votes desc, then average desc (none last), then movie id asc: fully deterministic.
    return np.lexsort((movie_ids, -np.nan_to_num(averages, nan=-np.inf), -votes))


def top_order_key(movie_id: int, votes: int, average: float | None) -> tuple[int, float, int]:
    """Sort key of one movie in top order (the order of ``_order``), from its published
    statistics: a few movies can be put in that order without reading the whole top list."""
    return (-votes, -average if average is not None else np.inf, movie_id)
