"""Movie statistics: votes, averages above the lower limit, and the top order (pure)."""

from __future__ import annotations

import math

import pandas as pd

from movierec.recommender.statistics import aggregate_ratings, rank_movies


def test_votes_and_average_per_movie() -> None:
    ratings = pd.DataFrame(
        {"movie_id": [1, 1, 1, 2, 3, 3], "rating": [4.0, 5.0, 3.0, 2.5, 1.0, 2.0]}
    )
    stats = aggregate_ratings(ratings).set_index("movie_id")
    assert stats["votes"].to_dict() == {1: 3, 2: 1, 3: 2}
    assert stats["avg_rating"].to_dict() == {1: 4.0, 2: 2.5, 3: 1.5}


def test_average_only_from_the_lower_limit_up() -> None:
    aggregates = pd.DataFrame(
        {"movie_id": [1, 2, 3], "votes": [5, 4, 0], "avg_rating": [3.2, 4.9, math.nan]}
    )
    ranked = rank_movies(aggregates, min_votes=5).set_index("movie_id")
    assert ranked.loc[1, "avg_rating"] == 3.2
    assert math.isnan(ranked.loc[2, "avg_rating"])
    assert math.isnan(ranked.loc[3, "avg_rating"])


def test_top_order_votes_then_average_then_id() -> None:
    aggregates = pd.DataFrame(
        {
            "movie_id": [10, 20, 30, 40, 50, 60, 70],
            "votes": [3, 8, 8, 8, 0, 3, 8],
            "avg_rating": [4.5, 3.0, 4.0, 2.0, math.nan, 4.5, 4.0],
        }
    )
    ranked = rank_movies(aggregates, min_votes=5)
    # 8 votes: 30 and 70 tie on 4.0 (id order), then 20, 40; 3 votes: below the limit, so
    # without an average: id order; nobody rated 50: last.
    assert ranked["movie_id"].tolist() == [30, 70, 20, 40, 10, 60, 50]
    assert ranked["votes"].tolist() == [8, 8, 8, 8, 3, 3, 0]


def test_movie_without_an_average_ranks_after_equal_votes_with_one() -> None:
    aggregates = pd.DataFrame({"movie_id": [1, 2], "votes": [5, 5], "avg_rating": [math.nan, 0.5]})
    assert rank_movies(aggregates, min_votes=1)["movie_id"].tolist() == [2, 1]
