"""Vectorised top-N scoring: exclusion of rated movies, ties, batching, and agreement with
Surprise's own ``predict`` (pure: no database, no Redis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from movierec.recommender.rating_ranker import RatingModelRanker
from movierec.recommender.scoring import RatedItems, iter_top_n, top_k_columns, users_per_batch
from movierec.recommender.training import FactorModel, SVDParams, train_svd


def _model(
    n_users: int, item_ids: list[int], *, item_bias: list[float] | None = None
) -> FactorModel:
    """A hand-made model whose scores are mu + b_i (no user effects): easy to predict."""
    n_items = len(item_ids)
    return FactorModel(
        global_mean=3.0,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        user_bias=np.zeros(n_users),
        item_bias=np.asarray(item_bias if item_bias is not None else [0.0] * n_items),
        user_factors=np.zeros((n_users, 2)),
        item_factors=np.zeros((n_items, 2)),
    )


def _lists(model: FactorModel, rated: RatedItems, n: int, **kwargs) -> dict[int, list[int]]:
    ranker = RatingModelRanker(model)
    return {user: movies.tolist() for user, movies, _ in iter_top_n(ranker, rated, n, **kwargs)}


def _ratings_of(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    users, movies = zip(*pairs, strict=True) if pairs else ((), ())
    return np.asarray(users, dtype=np.int64), np.asarray(movies, dtype=np.int64)


def test_lists_exclude_rated_movies_and_rank_by_score() -> None:
    model = _model(2, [10, 20, 30, 40, 50], item_bias=[0.1, 0.5, 0.3, 0.9, 0.7])
    rated = RatedItems.from_ratings(model, *_ratings_of([(1, 40), (2, 20), (2, 50)]))
    lists = _lists(model, rated, 3)
    assert lists == {1: [50, 20, 30], 2: [40, 30, 10]}


def test_equal_scores_rank_by_movie_id_also_at_the_cut() -> None:
    # Every movie scores the same: the cut at n must keep the lowest unrated ids, in order,
    # whatever argpartition happened to pick.
    ids = [70, 10, 60, 20, 50, 30, 40]  # the model stores them sorted; given unsorted here
    model = _model(3, sorted(ids))
    rated = RatedItems.from_ratings(model, *_ratings_of([(2, 10), (2, 30), (3, 40)]))
    lists = _lists(model, rated, 3)
    assert lists == {1: [10, 20, 30], 2: [20, 40, 50], 3: [10, 20, 30]}


def test_ranking_uses_the_unclipped_score() -> None:
    # 5.4, 5.1, 5.2: all 5.0 once clipped to the rating scale (a three-way tie).
    model = _model(1, [1, 2, 3], item_bias=[2.4, 2.1, 2.2])
    rated = RatedItems.from_ratings(model, *_ratings_of([]))
    assert _lists(model, rated, 3) == {1: [1, 3, 2]}


def test_tie_between_the_best_movies_keeps_score_order_first() -> None:
    model = _model(1, [1, 2, 3, 4], item_bias=[0.2, 0.9, 0.9, 0.5])
    rated = RatedItems.from_ratings(model, *_ratings_of([]))
    assert _lists(model, rated, 3) == {1: [2, 3, 4]}


def test_user_with_fewer_unrated_movies_than_n_gets_only_those() -> None:
    model = _model(2, [1, 2, 3, 4], item_bias=[0.1, 0.2, 0.3, 0.4])
    rated = RatedItems.from_ratings(model, *_ratings_of([(1, 1), (1, 3), (1, 4), (2, 2)]))
    lists = _lists(model, rated, 3)
    assert lists == {1: [2], 2: [4, 3, 1]}


def test_ratings_of_unknown_users_or_movies_are_ignored() -> None:
    model = _model(1, [1, 2, 3])
    rated = RatedItems.from_ratings(model, *_ratings_of([(1, 99), (7, 1), (1, 2)]))
    assert rated.count(0) == 1
    assert _lists(model, rated, 5) == {1: [1, 3]}


def test_batch_size_changes_nothing_but_memory(small_movielens: Path) -> None:
    ratings = _frame(small_movielens)
    model = train_svd(ratings, SVDParams(n_factors=8, n_epochs=10)).model
    rated = RatedItems.from_ratings(model, ratings["user_id"], ratings["movie_id"])
    one_by_one = _lists(model, rated, 12, memory_bytes=1)
    all_at_once = _lists(model, rated, 12, memory_bytes=2**30)
    assert users_per_batch(model.n_items, 1) == 1
    assert users_per_batch(model.n_items, 2**30) > model.n_users
    assert one_by_one == all_at_once
    assert len(one_by_one) == model.n_users


def test_scoring_threads_change_nothing_but_speed(small_movielens: Path) -> None:
    ratings = _frame(small_movielens)
    model = train_svd(ratings, SVDParams(n_factors=8, n_epochs=10)).model
    rated = RatedItems.from_ratings(model, ratings["user_id"], ratings["movie_id"])
    sequential = _lists(model, rated, 12, memory_bytes=1)
    batches: list[int] = []
    threaded = _lists(
        model, rated, 12, memory_bytes=1, threads=3, on_batch=lambda n, s: batches.append(n)
    )
    assert len(batches) > 3  # several batches really were in flight at once
    assert sum(batches) == model.n_users
    assert list(threaded.items()) == list(sequential.items())  # same lists, same user order


def test_users_per_batch_keeps_the_block_within_the_budget() -> None:
    budget = 128 * 2**20
    batch = users_per_batch(59_000, budget)
    assert 50 < batch < 200  # MovieLens-25M's catalogue: about 90 users per block
    assert batch * 59_000 * 8 * 2 <= budget


@settings(max_examples=200, deadline=None)
@given(
    scores=arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(1, 12)),
        elements=st.sampled_from([-np.inf, 0.0, 0.5, 1.0, 1.5]),  # many ties
    ),
    k=st.integers(0, 14),
)
def test_top_k_columns_equals_a_full_stable_sort(scores: np.ndarray, k: int) -> None:
    columns = top_k_columns(scores.copy(), k)
    for row in range(scores.shape[0]):
        expected = np.argsort(-scores[row], kind="stable")[: min(k, scores.shape[1])]
        finite = np.isfinite(scores[row, columns[row]])
        # The order of masked (-inf) entries is irrelevant: the caller drops them.
        assert (
            columns[row][finite].tolist() == expected[np.isfinite(scores[row, expected])].tolist()
        )


def _frame(folder: Path) -> pd.DataFrame:
    raw = pd.read_csv(folder / "ratings.csv")
    return raw.rename(columns={"userId": "user_id", "movieId": "movie_id"})[
        ["user_id", "movie_id", "rating"]
    ]


def test_top_n_equals_ranking_by_surprise_predict(small_movielens: Path) -> None:
    n = 15
    ratings = _frame(small_movielens)
    trained = train_svd(ratings, SVDParams(n_factors=10, n_epochs=20, random_state=3))
    model = trained.model
    rated = RatedItems.from_ratings(model, ratings["user_id"], ratings["movie_id"])
    ours = _lists(model, rated, n)
    seen = ratings.groupby("user_id")["movie_id"].apply(set).to_dict()
    assert set(ours) == set(seen)
    for user, movies in ours.items():
        estimates = sorted(
            (trained.algo.predict(user, movie, clip=False).est, movie)
            for movie in model.item_ids.tolist()
            if movie not in seen[user]
        )
        estimates.reverse()
        # Near-ties would make the comparison depend on summation order; there are none here.
        gaps = np.abs(np.diff([est for est, _ in estimates[: n + 1]]))
        assert gaps.min() > 1e-9
        assert movies == [movie for _, movie in estimates[:n]]


@given(
    st.lists(st.sets(st.integers(0, 11), max_size=8), min_size=1, max_size=6),
    st.data(),
)
def test_rated_items_including_another_set_holds_both_per_row(rows, data) -> None:  # type: ignore[no-untyped-def]
    # The rated movies and the dismissed ones, as the refresh masks them together.
    extra = [data.draw(st.sets(st.integers(0, 11), max_size=3)) for _ in rows]

    def csr(sets: list[set[int]]) -> RatedItems:
        indptr = np.concatenate([[0], np.cumsum([len(s) for s in sets])]).astype(np.int64)
        indices = np.array([m for s in sets for m in sorted(s)], dtype=np.int64)
        return RatedItems(indptr=indptr, indices=indices)

    both = csr(rows).including(csr(extra))
    for row, (own, added) in enumerate(zip(rows, extra, strict=True)):
        held = both.indices[both.indptr[row] : both.indptr[row + 1]].tolist()
        assert sorted(held) == sorted(list(own) + list(added))
