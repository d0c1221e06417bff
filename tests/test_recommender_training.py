"""Training: Surprise's SVD fitted on a frame, its parameters copied into plain arrays; the same
model trained on arrays (fit_svd) equal to it bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from surprise import accuracy

from conftest import ML_SMALL, requires_movielens
from movierec.data.movielens import read_ratings
from movierec.recommender.data import RatingArrays
from movierec.recommender.training import (
    NothingToTrain,
    SVDParams,
    estimate_pairs,
    fit_svd,
    train_svd,
    training_rmse,
)


@pytest.fixture(scope="module")
def ratings(small_movielens: Path) -> pd.DataFrame:
    raw = pd.read_csv(small_movielens / "ratings.csv")
    return raw.rename(columns={"userId": "user_id", "movieId": "movie_id"})[
        ["user_id", "movie_id", "rating"]
    ]


def test_factor_model_reproduces_surprise_estimates(ratings: pd.DataFrame) -> None:
    trained = train_svd(ratings, SVDParams(n_factors=6, n_epochs=15, random_state=1))
    model = trained.model
    assert model.n_users == ratings["user_id"].nunique()
    assert model.n_items == ratings["movie_id"].nunique()
    assert np.all(np.diff(model.user_ids) > 0) and np.all(np.diff(model.item_ids) > 0)
    rng = np.random.default_rng(0)
    users = rng.choice(model.user_ids, 300)
    items = rng.choice(model.item_ids, 300)
    ours = estimate_pairs(model, model.user_positions(users), model.item_positions(items))
    pairs = zip(users.tolist(), items.tolist(), strict=True)
    theirs = [trained.algo.predict(u, i, clip=False).est for u, i in pairs]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_params_reach_surprise(ratings: pd.DataFrame) -> None:
    params = SVDParams(n_factors=4, n_epochs=3, lr_all=0.01, reg_all=0.3, random_state=9)
    algo = train_svd(ratings, params).algo
    assert (algo.n_factors, algo.n_epochs, algo.random_state) == (4, 3, 9)
    assert (algo.lr_bu, algo.reg_qi) == (0.01, 0.3)
    assert algo.qi.shape[1] == 4


def test_same_seed_same_model(ratings: pd.DataFrame) -> None:
    params = SVDParams(n_factors=5, n_epochs=5, random_state=4)
    first, second = train_svd(ratings, params).model, train_svd(ratings, params).model
    np.testing.assert_array_equal(first.item_factors, second.item_factors)


def test_training_rmse_equals_surprise_accuracy_on_the_trainset(ratings: pd.DataFrame) -> None:
    trained = train_svd(ratings, SVDParams(n_factors=6, n_epochs=15))
    predictions = trained.algo.test(trained.trainset.build_testset())
    expected = accuracy.rmse(predictions, verbose=False)
    assert training_rmse(trained.model, ratings) == pytest.approx(expected, abs=1e-12)


def test_unknown_ids_have_no_position(ratings: pd.DataFrame) -> None:
    model = train_svd(ratings, SVDParams(n_factors=2, n_epochs=1)).model
    known = int(model.item_ids[3])
    assert model.item_positions(np.array([known, 5, 10**9])).tolist() == [3, -1, -1]


def test_no_ratings_means_nothing_to_train() -> None:
    empty = pd.DataFrame({"user_id": [], "movie_id": [], "rating": []})
    with pytest.raises(NothingToTrain):
        train_svd(empty, SVDParams())


def _assert_same_model(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    assert ours.global_mean == theirs.global_mean
    for name in ("user_ids", "item_ids", "user_bias", "item_bias", "user_factors", "item_factors"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)


@pytest.mark.parametrize(
    "params",
    [
        SVDParams(n_factors=20, n_epochs=20, random_state=0),
        SVDParams(n_factors=7, n_epochs=5, lr_all=0.02, reg_all=0.05, random_state=11),
    ],
    ids=["20x20", "7x5"],
)
def test_fit_svd_is_surprise_bit_for_bit(ratings: pd.DataFrame, params: SVDParams) -> None:
    # Ordered by (user, movie) as the database reads them: the grouped fast path.
    ordered = ratings.sort_values(["user_id", "movie_id"], ignore_index=True)
    trained = train_svd(ordered, params)
    fitted = fit_svd(RatingArrays.from_frame(ordered), params)
    assert fitted.fit_seconds > 0
    _assert_same_model(fitted.model, trained.model)
    # And so the predictions are Surprise's own predict(), exactly.
    rng = np.random.default_rng(3)
    model = fitted.model
    users, items = rng.choice(model.user_ids, 200), rng.choice(model.item_ids, 200)
    ours = estimate_pairs(model, model.user_positions(users), model.item_positions(items))
    pairs = zip(users.tolist(), items.tolist(), strict=True)
    theirs = [trained.algo.predict(u, i, clip=False).est for u, i in pairs]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)  # BLAS dot vs einsum only


def test_fit_svd_follows_surprise_in_any_rating_order(ratings: pd.DataFrame) -> None:
    # Not grouped by user: Surprise visits users by first appearance, each in file order.
    shuffled = ratings.sample(frac=1.0, random_state=5, ignore_index=True)
    params = SVDParams(n_factors=5, n_epochs=4, random_state=2)
    fitted = fit_svd(RatingArrays.from_frame(shuffled), params)
    _assert_same_model(fitted.model, train_svd(shuffled, params).model)
    # A different order is a different (equally valid) model, as it is for Surprise.
    grouped = fit_svd(RatingArrays.from_frame(ratings), params).model
    assert not np.array_equal(grouped.item_factors, fitted.model.item_factors)


def test_training_rmse_takes_arrays(ratings: pd.DataFrame) -> None:
    model = fit_svd(RatingArrays.from_frame(ratings), SVDParams(n_factors=4, n_epochs=3)).model
    assert training_rmse(model, RatingArrays.from_frame(ratings)) == training_rmse(model, ratings)


def test_fit_svd_without_ratings_means_nothing_to_train() -> None:
    empty = np.array([], dtype=np.int64)
    with pytest.raises(NothingToTrain):
        fit_svd(RatingArrays(empty, empty, empty.astype(np.float64)), SVDParams())


@requires_movielens()
@pytest.mark.movielens
@pytest.mark.slow
def test_fit_svd_is_surprise_on_ml_latest_small() -> None:
    # The production parameters on the real data set, in the database's (user, movie) order.
    frame = read_ratings(ML_SMALL).sort_values(["user_id", "movie_id"], ignore_index=True)
    params = SVDParams()
    fitted = fit_svd(RatingArrays.from_frame(frame[["user_id", "movie_id", "rating"]]), params)
    _assert_same_model(fitted.model, train_svd(frame, params).model)
