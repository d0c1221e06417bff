"""EASE over the most-rated movies (the sequential ranker's item-to-item part): which movies it
keeps, its weights against EASE's formula computed directly, refresh against fold-in, and how
it follows the catalogue when movies leave."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from movierec.recommender.head_ease import HeadEASE


def _pattern(seed: int = 3, users: int = 60, movies: int = 12) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    # Movie m is rated with probability falling with m, so the counts differ; stars as values
    # (the model only looks at who rated what).
    rated = rng.random((users, movies)) < np.linspace(0.8, 0.1, movies)
    stars = rng.choice([1.0, 2.5, 4.0, 5.0], size=(users, movies))
    return sp.csr_matrix(np.where(rated, stars, 0.0))


def test_it_keeps_the_most_rated_movies_and_their_ease_weights() -> None:
    matrix = _pattern()
    model = HeadEASE(items=5, regularization=10.0).fit(matrix)
    counts = (matrix.toarray() > 0).sum(axis=0)
    # The five largest counts; on a tie the lower column.
    expected = sorted(sorted(range(12), key=lambda c: (-counts[c], c))[:5])
    assert model.columns.tolist() == expected
    binary = (matrix.toarray()[:, expected] > 0).astype(float)
    inverse = np.linalg.inv(binary.T @ binary + 10.0 * np.eye(5))
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    np.testing.assert_allclose(model.weights, weights, rtol=1e-5, atol=1e-7)
    # Damping divides each target movie's column by its count to the power given.
    damped = HeadEASE(items=5, regularization=10.0, damping=0.5).fit(matrix)
    np.testing.assert_allclose(
        damped.weights, weights / np.sqrt(counts[expected]), rtol=1e-5, atol=1e-7
    )


def test_fold_in_scores_a_user_as_the_refresh_does_and_a_gone_movie_leaves_both() -> None:
    matrix = _pattern(seed=5)
    model = HeadEASE(items=6, regularization=5.0, damping=0.2).fit(matrix)
    for row in (0, 7, 31):
        rated = matrix[row].indices
        np.testing.assert_allclose(
            model.score_users(row, row + 1)[0], model.fold_in(rated, 12), rtol=1e-5, atol=1e-6
        )
    # The catalogue loses movie column 0 (a head movie) and gains one at the end: the rest
    # move down by one.
    assert 0 in model.columns.tolist()
    kept_before = model.columns[model.columns != 0]
    old_weights = model.weights[np.ix_(model.columns != 0, model.columns != 0)].copy()
    moved = np.r_[-1, np.arange(11)]
    model.place(moved)
    assert model.columns.tolist() == (kept_before - 1).tolist()
    np.testing.assert_array_equal(model.weights, old_weights)
    for row in (0, 7, 31):
        rated = moved[matrix[row].indices]
        np.testing.assert_allclose(
            model.score_users(row, row + 1)[0],
            model.fold_in(rated[rated >= 0], 12),
            rtol=1e-5,
            atol=1e-6,
        )


def test_its_part_joins_the_scores_normalised_on_its_own_movies_only() -> None:
    model = HeadEASE(items=3, regularization=1.0).fit(_pattern(seed=7, movies=6))
    scores = np.zeros((2, 6), dtype=np.float32)
    part = np.array([[2.0, -4.0, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    model.add_to(scores, part, 0.5)
    expected = np.zeros((2, 6), dtype=np.float32)
    expected[0, model.columns] = [0.25, -0.5, 0.125]  # / max |part| = 4, times 0.5
    np.testing.assert_allclose(scores, expected)
