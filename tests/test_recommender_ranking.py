"""Ranking models behind one protocol: each checked against an independent computation (numpy's
full SVD, implicit's own user solve, the closed form), fold-in against scoring, and the factory's
refusals (pure: no database, no Redis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movierec.recommender import blended as blended_module
from movierec.recommender.als import ALSParams, ALSRanker
from movierec.recommender.blended import BlendedRanker
from movierec.recommender.data import InteractionMatrix, RatingArrays
from movierec.recommender.ease import EASERanker
from movierec.recommender.popularity import PopularityRanker
from movierec.recommender.puresvd import PureSVDParams, PureSVDRanker
from movierec.recommender.ranker_registry import build_ranker, ranker_params
from movierec.recommender.ranking import Ranker, RankerError
from movierec.recommender.rating_ranker import RatingModelRanker
from movierec.recommender.scoring import RatedItems, iter_top_n
from movierec.recommender.statistics import aggregate_ratings, rank_movies
from movierec.recommender.training import FactorModel


def _random_ratings(n_users: int = 40, n_items: int = 25, density: float = 0.3, seed: int = 1):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    stars = rng.integers(1, 11, len(users)) / 2
    # Raw ids that are not 0..n-1 and not contiguous, as in MovieLens.
    return RatingArrays(users * 3 + 7, items * 5 + 100, stars.astype(np.float64))


def _interactions() -> InteractionMatrix:
    return InteractionMatrix.from_ratings(_random_ratings())


def _user_items(interactions: InteractionMatrix, row: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = interactions.matrix
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:stop], matrix.data[start:stop]


def test_interaction_matrix_rows_and_columns_follow_ascending_raw_ids() -> None:
    ratings = RatingArrays(np.array([9, 2, 9]), np.array([30, 30, 10]), np.array([4.0, 3.0, 5.0]))
    interactions = InteractionMatrix.from_ratings(ratings)
    assert interactions.user_ids.tolist() == [2, 9]
    assert interactions.item_ids.tolist() == [10, 30]
    assert interactions.matrix.toarray().tolist() == [[0, 3], [5, 4]]
    assert interactions.item_counts().tolist() == [1, 2]
    assert interactions.binary().toarray().tolist() == [[0, 1], [1, 1]]


@pytest.mark.parametrize("weighting", ["rating", "binary"])
def test_puresvd_scores_are_the_projection_on_the_top_singular_vectors(weighting: str) -> None:
    interactions = _interactions()
    ranker = PureSVDRanker(PureSVDParams(n_factors=6, weighting=weighting)).fit(interactions)
    dense = (interactions.matrix if weighting == "rating" else interactions.binary()).toarray()
    _, _, vt = np.linalg.svd(dense.astype(np.float64))
    projection = vt[:6].T @ vt[:6]  # independent of the sign and order ARPACK returns
    expected = dense @ projection
    np.testing.assert_allclose(ranker.score_users(0, interactions.n_users), expected, atol=1e-4)


def test_puresvd_fold_in_of_a_users_own_ratings_equals_their_scores() -> None:
    interactions = _interactions()
    ranker = PureSVDRanker(PureSVDParams(n_factors=5, popularity_damping=0.3)).fit(interactions)
    for row in (0, 7, 21):
        items, stars = _user_items(interactions, row)
        np.testing.assert_allclose(
            ranker.fold_in(items, stars), ranker.score_users(row, row + 1)[0], atol=1e-4
        )


def test_als_fold_in_equals_implicits_own_user_solve() -> None:
    interactions = _interactions()
    ranker = ALSRanker(ALSParams(n_factors=4, iterations=5, alpha=3.0, regularization=0.1))
    ranker.fit(interactions)
    confidence = interactions.binary() * np.float32(3.0)
    for row in (0, 11):
        items, stars = _user_items(interactions, row)
        solved = ranker._model.recalculate_user(row, confidence[row])
        np.testing.assert_allclose(
            ranker.fold_in(items, stars), ranker.item_factors @ np.ravel(solved), atol=1e-3
        )


def test_ease_equals_its_closed_form_and_folds_in_exactly() -> None:
    interactions = _interactions()
    ranker = EASERanker().fit(interactions)
    x = interactions.binary().toarray().astype(np.float64)
    inverse = np.linalg.inv(x.T @ x + 250.0 * np.eye(x.shape[1]))
    weights = np.eye(x.shape[1]) - inverse / np.diag(inverse)
    np.testing.assert_allclose(ranker.score_users(0, len(x)), x @ weights, atol=1e-4)
    items, stars = _user_items(interactions, 3)
    np.testing.assert_allclose(ranker.fold_in(items, stars), ranker.score_users(3, 4)[0], atol=1e-5)


def test_ease_refuses_a_catalogue_it_cannot_hold() -> None:
    with pytest.raises(RankerError, match="use puresvd or als"):
        build_ranker("ease", {"max_items": 10}).fit(_interactions())


def test_popularity_ranks_as_the_top_movies_list() -> None:
    ratings = _random_ratings(density=0.4)
    interactions = InteractionMatrix.from_ratings(ratings)
    ranker = PopularityRanker(min_votes=12).fit(interactions)
    ranked = interactions.item_ids[np.argsort(-ranker.score_users(0, 1)[0], kind="stable")]
    frame = pd.DataFrame({"movie_id": ratings.movie_ids, "rating": ratings.ratings})
    assert ranked.tolist() == rank_movies(aggregate_ratings(frame), 12)["movie_id"].tolist()


def _rating_model(interactions: InteractionMatrix) -> FactorModel:
    rng = np.random.default_rng(5)
    return FactorModel(
        global_mean=3.5,
        user_ids=interactions.user_ids,
        item_ids=interactions.item_ids,
        user_bias=rng.normal(0, 0.3, interactions.n_users),
        item_bias=rng.normal(0, 0.3, interactions.n_items),
        user_factors=rng.normal(0, 0.3, (interactions.n_users, 3)),
        item_factors=rng.normal(0, 0.3, (interactions.n_items, 3)),
    )


def test_blend_adds_the_weighted_predicted_stars_to_the_normalised_ranker_score() -> None:
    interactions = _interactions()
    model = _rating_model(interactions)
    base = PureSVDRanker(PureSVDParams(n_factors=4)).fit(interactions)
    blended = build_ranker(
        "puresvd", {"n_factors": 4, "rating_weight": 0.3}, rating_model=model
    ).fit(interactions)
    assert isinstance(blended, BlendedRanker)
    raw = base.score_users(0, interactions.n_users).astype(np.float64)
    stars = np.clip(RatingModelRanker(model).score_users(0, interactions.n_users), 0.5, 5.0)
    expected = raw / np.abs(raw).max(axis=1, keepdims=True) + 0.3 * stars
    np.testing.assert_allclose(blended.score_users(0, interactions.n_users), expected, atol=1e-5)
    assert blended.params()["rating_weight"] == 0.3


def _stable_top(scores: np.ndarray, rated: RatedItems, n: int) -> list[list[int]]:
    lists = []
    for row in range(scores.shape[0]):
        row_scores = scores[row].astype(np.float64)
        row_scores[rated.indices[rated.indptr[row] : rated.indptr[row + 1]]] = -np.inf
        order = np.argsort(-row_scores, kind="stable")[:n]
        lists.append(order[np.isfinite(row_scores[order])].tolist())
    return lists


@pytest.mark.parametrize("weight", [0.1, 0.3, 3.0])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("blas_above", [0.0, 2.0])  # stars from one BLAS product / per movie
def test_blend_top_n_equals_a_stable_sort_of_its_scores(
    weight: float, ties: bool, blas_above: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BlendedRanker.select_top skips the movies whose bound cannot reach the list: the lists
    # must be those of sorting the full blended scores, ties by lower movie id included.
    monkeypatch.setattr(blended_module, "_BLAS_ABOVE", blas_above)
    interactions = _interactions()
    model = _rating_model(interactions)
    if ties:  # every predicted star equal, base scores on a coarse grid: many exact ties
        model = FactorModel(
            model.global_mean, model.user_ids, model.item_ids, np.zeros(interactions.n_users),
            np.zeros(interactions.n_items), np.zeros_like(model.user_factors),
            np.zeros_like(model.item_factors),
        )  # fmt: skip
    blended = BlendedRanker(PureSVDRanker(PureSVDParams(4)), model, weight).fit(interactions)
    if ties:
        base = blended.base
        base.user_factors = np.round(base.user_factors * 2)
        base.item_factors = np.round(base.item_factors * 2).astype(np.float32)
    rated = RatedItems.from_matrix(interactions.matrix)
    for n in (1, 5, 20, 30):
        got = [
            movies.tolist() for _, movies, _ in iter_top_n(blended, rated, n, memory_bytes=2**12)
        ]
        expected = _stable_top(blended.score_users(0, interactions.n_users), rated, n)
        assert got == [interactions.item_ids[row].tolist() for row in expected]


def test_blend_maps_rows_when_the_rating_model_knows_other_ids() -> None:
    interactions = _interactions()
    model = _rating_model(interactions)
    # A rating model that knows the movies in another order (a subset, ids shifted): the blend
    # must look each pair up, not assume equal rows.
    keep = np.arange(1, interactions.n_items)
    partial = FactorModel(
        model.global_mean, model.user_ids, model.item_ids[keep], model.user_bias,
        model.item_bias[keep], model.user_factors, model.item_factors[keep],
    )  # fmt: skip
    blended = BlendedRanker(PureSVDRanker(PureSVDParams(4)), partial, 0.5).fit(interactions)
    aligned = BlendedRanker(PureSVDRanker(PureSVDParams(4)), model, 0.5).fit(interactions)
    got, full = blended.score_users(2, 5), aligned.score_users(2, 5)
    np.testing.assert_allclose(got[:, 1:], full[:, 1:], atol=1e-6)  # known movies: the same
    assert not np.allclose(got[:, 0], full[:, 0])  # the unknown one got mu, not its estimate


def test_every_ranker_follows_the_protocol() -> None:
    interactions = _interactions()
    model = _rating_model(interactions)
    for name in ("puresvd", "als", "ease", "svd", "popular"):
        ranker = build_ranker(name, rating_model=model).fit(interactions)
        assert isinstance(ranker, Ranker)
        scores = ranker.score_users(3, 9)
        assert scores.shape == (6, interactions.n_items)
        items, stars = _user_items(interactions, 0)
        assert ranker.fold_in(items, stars).shape == (interactions.n_items,)
        assert isinstance(ranker.params(), dict)


def test_unknown_rankers_and_parameters_are_refused_by_name() -> None:
    with pytest.raises(RankerError, match="unknown ranker 'svdpp'"):
        ranker_params("svdpp")
    with pytest.raises(RankerError, match="no parameter n_epochs"):
        ranker_params("puresvd", {"n_epochs": 3})
    with pytest.raises(RankerError, match="weighting"):
        ranker_params("puresvd", {"weighting": "stars"})
    with pytest.raises(RankerError, match="needs the rating model"):
        build_ranker("svd")
    assert ranker_params("puresvd")["n_factors"] == 24
