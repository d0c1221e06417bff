"""ServingModel.explain ("because you liked ..."): the liked movies nearest to each recommended
one, as a full sort by cosine (ties by movie id) would pick them; and the refresh's reasons
for every list (``recommender.explanations``) as explain gives them for one."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from movierec.recommender.explanations import (
    EXPLANATION_GRID,
    LIKED_THRESHOLD,
    explain_lists,
    explanation_vectors,
    liked_items,
)
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel


def _model_with_vectors(item_ids: np.ndarray, vectors: np.ndarray) -> ServingModel:
    factors = np.zeros((len(item_ids), vectors.shape[1]))
    rating = FactorModel(
        global_mean=3.5,
        user_ids=np.empty(0, dtype=np.int64),
        item_ids=item_ids,
        user_bias=np.empty(0),
        item_bias=np.zeros(len(item_ids)),
        user_factors=np.empty((0, vectors.shape[1])),
        item_factors=factors,
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return ServingModel(
        "puresvd", {}, rating, 0.02, 0.0, None, _unit_vectors=unit.astype(np.float32)
    )


def _by_full_sort(
    model: ServingModel, liked: np.ndarray, recommended: np.ndarray, per_movie: int
) -> dict[int, list[int]]:
    unit = model.explanation_vectors()
    assert unit is not None
    column = {int(m): k for k, m in enumerate(model.item_ids)}
    known = [int(m) for m in liked if int(m) in column]
    found = {}
    for movie in (int(m) for m in recommended):
        if movie not in column or not known:
            continue
        cosine = {m: float(unit[column[movie]] @ unit[column[m]]) for m in known}
        nearest = sorted(known, key=lambda m: (-cosine[m], m))[:per_movie]
        chosen = [m for m in nearest if cosine[m] > 0]
        if chosen:
            found[movie] = chosen
    return found


def test_explain_picks_what_a_full_sort_picks_ties_by_id_and_only_positive_cosines() -> None:
    rng = np.random.default_rng(7)
    item_ids = np.arange(10, 70, dtype=np.int64)
    # Few directions (some opposite, some orthogonal), shared by many movies: cosines tie
    # often, and exactly (unit vectors with exact cosines, scaled by powers of two), so that
    # which of two equal movies comes first is the rule's, not rounding's.
    directions = np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], [0.5, -0.5, 0.5, -0.5]]
    )
    scales = rng.choice([0.5, 1.0, 2.0, 4.0], size=(len(item_ids), 1))
    vectors = directions[rng.integers(0, len(directions), len(item_ids))] * scales
    model = _model_with_vectors(item_ids, vectors)
    for _ in range(200):
        liked = rng.choice(np.arange(0, 80), size=rng.integers(1, 30), replace=False)
        recommended = rng.choice(np.arange(0, 80), size=rng.integers(1, 15), replace=False)
        per_movie = int(rng.integers(1, 4))
        expected = _by_full_sort(model, liked, recommended, per_movie)
        assert model.explain(liked, recommended, per_movie) == expected


@pytest.mark.parametrize("scales", [[0.5, 1.0, 2.0], [0.3, 1.0, 3.7, 11.0]])
def test_the_refresh_explains_every_list_as_explain_explains_one(scales: list[float]) -> None:
    # The refresh's kernel (many users' lists at once, from their ratings) against the read
    # path's explain of one user, on vectors whose cosines tie often. Neither 0.6 nor 0.8 is
    # exact in binary, and scales that are not powers of two give unit vectors of one
    # direction that differ in their last bits: the two paths' arithmetic (a BLAS product, a
    # compiled loop) must still order every tie alike, on any CPU.
    rng = np.random.default_rng(11)
    item_ids = np.arange(10, 70, dtype=np.int64)
    directions = np.array([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0.6, 0.8, 0], [0, -0.6, 0.8]])
    scales = rng.choice(scales, size=(len(item_ids), 1))
    vectors = directions[rng.integers(0, len(directions), len(item_ids))] * scales
    model = _model_with_vectors(item_ids, vectors)
    user_ids = np.arange(1, 41, dtype=np.int64)
    ids = SimpleNamespace(user_ids=user_ids, item_ids=item_ids)
    rated = [rng.choice(item_ids, size=rng.integers(0, 25), replace=False) for _ in user_ids]
    stars = [rng.choice([2.0, 3.5, 4.0, 4.5, 5.0], size=len(movies)) for movies in rated]
    liked = liked_items(
        ids, np.repeat(user_ids, [len(m) for m in rated]), np.concatenate(rated),
        np.concatenate(stars),
    )  # fmt: skip
    lists = [rng.choice(item_ids, size=rng.integers(0, 12), replace=False) for _ in user_ids]
    grid = model.explanation_vectors()
    reasons = explain_lists(grid, item_ids, liked, np.arange(40), lists, 2)
    for movies, ratings, listed, found in zip(rated, stars, lists, reasons, strict=True):
        expected = model.explain(movies[ratings >= LIKED_THRESHOLD], listed, 2)
        assert found.shape == (len(listed), 2)
        got = {
            int(m): [int(r) for r in row if r >= 0] for m, row in zip(listed, found, strict=True)
        }
        assert {m: r for m, r in got.items() if r} == expected
    # A user the liked rows do not hold (-1) gets no reasons; nor does a ranker without vectors.
    assert (explain_lists(grid, item_ids, liked, [-1], [item_ids[:5]])[0] < 0).all()
    assert (explain_lists(None, item_ids, liked, [0], [item_ids[:5]])[0] < 0).all()


def test_cosines_on_the_explanation_grid_are_exact_in_any_order_of_summation() -> None:
    # What makes the two paths agree on any CPU: a sum taken forwards, backwards or by fsum
    # gives the same bits (plain float32 unit vectors would not).
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((60, 24))
    unit = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    grid = explanation_vectors(unit)
    assert grid.dtype == np.float32
    forwards, backwards = grid @ grid.T, grid[:, ::-1] @ grid[:, ::-1].T
    assert np.array_equal(forwards, backwards)
    exact = grid.astype(np.float64) @ grid.astype(np.float64).T
    assert np.array_equal(forwards, exact)
    assert forwards[5, 7] == math.fsum(grid[5].astype(float) * grid[7].astype(float))
    assert np.abs(grid - unit).max() <= EXPLANATION_GRID / 2


def test_movies_of_one_direction_tie_and_the_smaller_id_wins() -> None:
    # Unit vectors of one direction at different lengths differ in their last bits; on the
    # grid they are one vector, so the tie goes to the smaller id, not to rounding.
    item_ids = np.array([1, 2, 3, 4], dtype=np.int64)
    direction = np.array([0.6, 0.8, 0.1])
    vectors = np.array([direction * 7.3, direction * 0.9, direction * 3.1, [1.0, 0.0, 0.0]])
    model = _model_with_vectors(item_ids, vectors)
    assert model.explain(np.array([3, 2, 1]), np.array([4]), 3) == {4: [1, 2, 3]}
    liked = liked_items(
        SimpleNamespace(user_ids=np.array([9]), item_ids=item_ids),
        np.array([9, 9, 9]), np.array([3, 2, 1]), np.array([5.0, 5.0, 5.0]),
    )  # fmt: skip
    grid = model.explanation_vectors()
    assert explain_lists(grid, item_ids, liked, [0], [np.array([4])], 3)[0].tolist() == [[1, 2, 3]]


def test_explain_leaves_out_movies_with_no_liked_movie_in_their_direction() -> None:
    item_ids = np.array([1, 2, 3], dtype=np.int64)
    vectors = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.1]])
    model = _model_with_vectors(item_ids, vectors)
    assert model.explain(np.array([1]), np.array([2, 3])) == {3: [1]}
    assert model.explain(np.array([], dtype=np.int64), np.array([2, 3])) == {}
