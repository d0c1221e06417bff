"""Training: Surprise's SVD fitted on a frame, its parameters copied into plain arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from surprise import accuracy

from movierec.recommender.training import (
    NothingToTrain,
    SVDParams,
    estimate_pairs,
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
