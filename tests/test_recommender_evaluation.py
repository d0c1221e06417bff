"""The ranking evaluation: the splits, the metrics against hand computations, the popularity row
against an independent pandas computation, and the default ranker against the quality it must
reach on ml-latest-small (pure: no database, no Redis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from conftest import ML_SMALL, requires_movielens
from movierec.config import load_settings
from movierec.data.movielens import read_ratings
from movierec.jobs.refresh import ranker_config
from movierec.recommender.data import RatingArrays
from movierec.recommender.evaluation import (
    EvaluationContext,
    EvaluationError,
    evaluate_rankers,
    list_metrics,
    make_split,
    random_split,
    temporal_split,
    user_metrics,
    validation_split,
)
from movierec.recommender.ranker_registry import build_ranker
from movierec.recommender.training import SVDParams, train_svd


def _arrays(rows: list[tuple[int, int, float, int]]) -> RatingArrays:
    users, movies, stars, times = (np.array(column) for column in zip(*rows, strict=True))
    return RatingArrays(users, movies, stars.astype(float), times)


def _pairs(ratings: RatingArrays) -> set[tuple[int, int]]:
    return set(zip(ratings.user_ids.tolist(), ratings.movie_ids.tolist(), strict=True))


def test_temporal_split_holds_out_each_users_latest_fifth_ties_by_movie_id() -> None:
    rows = [(1, movie, 4.0, 100 + movie) for movie in range(1, 11)]  # user 1: 10 ratings
    rows += [(2, 30, 3.0, 5), (2, 20, 5.0, 5), (2, 10, 2.0, 1)]  # user 2: a tie at the end
    rows += [(3, 7, 1.0, 50)]  # user 3: a single rating
    split = temporal_split(_arrays(rows))
    # 20% of 10 = 2 (the two latest); of 3 -> 1 (the later of the tie: the higher movie id);
    # of 1 -> 1 (at least one).
    assert _pairs(split.test) == {(1, 9), (1, 10), (2, 30), (3, 7)}
    assert len(split.train) + len(split.test) == len(rows)
    assert not _pairs(split.train) & _pairs(split.test)


def test_random_split_holds_out_as_many_per_user_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    rows = [(u, m, 3.0, int(rng.integers(1000))) for u in range(1, 30) for m in range(u + 3)]
    ratings = _arrays(rows)
    temporal, first, again = (
        temporal_split(ratings),
        random_split(ratings, seed=4),
        random_split(ratings, seed=4),
    )
    counts = lambda split: np.bincount(split.test.user_ids).tolist()  # noqa: E731
    assert counts(first) == counts(temporal)
    assert first.test.movie_ids.tolist() == again.test.movie_ids.tolist()
    assert first.test.movie_ids.tolist() != random_split(ratings, seed=5).test.movie_ids.tolist()


def test_validation_split_is_carved_from_the_training_part_only() -> None:
    rows = [(u, m, 4.0, m * 7 % 13) for u in range(1, 8) for m in range(1, 16)]
    split = temporal_split(_arrays(rows))
    validation = validation_split(split)
    assert _pairs(validation.train) | _pairs(validation.test) == _pairs(split.train)
    assert not _pairs(validation.test) & _pairs(split.test)


def test_temporal_split_needs_timestamps() -> None:
    with pytest.raises(EvaluationError, match="timestamps"):
        make_split(RatingArrays(np.array([1]), np.array([2]), np.array([3.0])), "temporal")


def test_metrics_equal_a_hand_computation() -> None:
    users = np.array([1, 2, 3])
    lists = np.array([[10, 11, 12], [20, 21, 22], [30, 31, -1]])
    relevant = RatingArrays(
        np.array([1, 1, 2, 2, 2, 2]), np.array([11, 99, 20, 22, 23, 24]), np.ones(6)
    )  # user 3 has no relevant movie: not judged
    got = user_metrics(users, lists, relevant, 3)
    d = [1 / math.log2(i + 2) for i in range(3)]
    ndcg_1 = d[1] / (d[0] + d[1])  # hit at rank 2 of 2 relevant
    ndcg_2 = (d[0] + d[2]) / (d[0] + d[1] + d[2])  # hits at 1 and 3 of 4 relevant
    assert got["users"] == 2
    assert got["precision"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert got["recall"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert got["ndcg"] == pytest.approx((ndcg_1 + ndcg_2) / 2)
    assert got["map"] == pytest.approx(((1 / 2) / 2 + (1 + 2 / 3) / 3) / 2)
    assert got["hit_rate"] == 1.0


@requires_movielens()
def test_popularity_row_equals_an_independent_computation() -> None:
    ratings = RatingArrays.from_frame(read_ratings(ML_SMALL))
    split = temporal_split(ratings)
    context = EvaluationContext.build(split, min_votes=5)
    [popular] = evaluate_rankers({}, context, 10, 4.0)
    # Independently: the training votes (then average, where >= 5 votes; then id) order, each
    # user's top 10 unrated, NDCG against held-out movies rated >= 4.
    train, test = split.train.to_frame(), split.test.to_frame()
    stats = train.groupby("movie_id")["rating"].agg(["count", "mean"]).reset_index()
    stats.loc[stats["count"] < 5, "mean"] = -np.inf
    order = stats.sort_values(["count", "mean", "movie_id"], ascending=[False, False, True])
    top = order["movie_id"].tolist()
    seen = train.groupby("user_id")["movie_id"].apply(set)
    liked = test[test["rating"] >= 4].groupby("user_id")["movie_id"].apply(set)
    ndcgs, distinct = [], set()
    for user in sorted(test["user_id"].unique()):
        picks = [m for m in top if m not in seen.get(user, set())][:10]
        distinct.update(picks)
        if user not in liked:
            continue
        gains = [1 / math.log2(rank + 2) for rank, m in enumerate(picks) if m in liked[user]]
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(10, len(liked[user]))))
        ndcgs.append(sum(gains) / ideal)
    assert popular.metrics["ndcg_rel"] == pytest.approx(float(np.mean(ndcgs)), rel=1e-12)
    assert popular.metrics["distinct_movies"] == len(distinct)
    # The popular list's figure the ranking targets were set against.
    assert popular.metrics["ndcg_rel"] == pytest.approx(0.0742, abs=5e-5)


@requires_movielens()
@pytest.mark.slow
@pytest.mark.movielens
def test_default_ranker_beats_the_popular_list_by_the_targets() -> None:
    # The targets: temporal NDCG@10 at least 1.4 times the popular list's, at least 5% of the
    # catalogue recommended, under 10% of the slots on movies with fewer than 5 ratings, and a
    # random-split NDCG@10 of at least 0.27.
    settings = load_settings()
    ratings = RatingArrays.from_frame(read_ratings(ML_SMALL))
    figures = {}
    for kind in ("temporal", "random"):
        split = make_split(ratings, kind)
        context = EvaluationContext.build(split, settings.stat_movie_users_lower_limit, 9742)
        model = train_svd(split.train.to_frame(), SVDParams()).model
        name, params = ranker_config(settings)
        popular, served = evaluate_rankers(
            {name: lambda n=name, p=params, m=model: build_ranker(n, p, rating_model=m)},
            context,
            10,
            4.0,
        )
        figures[kind] = (popular.metrics, served.metrics)
    popular, served = figures["temporal"]
    assert served["ndcg_rel"] >= 1.4 * popular["ndcg_rel"]
    assert served["distinct_movies"] >= 0.05 * 9742
    assert served["rare_share"] < 0.10
    assert figures["random"][1]["ndcg_rel"] >= 0.27


def test_list_metrics_count_rare_and_distinct_movies() -> None:
    ratings = _arrays([(u, m, 4.0, 0) for u in range(1, 7) for m in ([1, 2, 3] if u < 6 else [4])])
    split = make_split(ratings, "random", test_fraction=0.2)
    context = EvaluationContext.build(split, min_votes=3, catalogue_size=10)
    lists = np.array([[1, 4], [1, -1]])
    figures = list_metrics(lists, context)
    counts = pd.Series(split.train.movie_ids).value_counts()
    assert figures["distinct_movies"] == 2 and figures["coverage"] == 0.2
    assert figures["rare_share"] == pytest.approx(1 / 3)  # movie 4 has one training rating
    assert figures["mean_popularity"] == pytest.approx((2 * counts[1] + counts.get(4, 0)) / 3)
