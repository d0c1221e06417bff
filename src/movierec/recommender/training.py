"""Training: scikit-surprise's SVD fitted on a ratings frame (``train_svd``, the reference),
the same model trained on arrays (``fit_svd``), and the factors as plain arrays.

Scoring never goes back to Surprise: ``FactorModel`` holds everything ``SVD.estimate`` uses
(global mean, biases, factors), with users and movies in ascending raw-id order so that the
column order of a score matrix is the deterministic tie-break order.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from movierec.recommender.data import RatingArrays, UserItemIndex, positions

# MovieLens' scale. Only clipping depends on it (ranking uses unclipped scores), and the
# training RMSE, which is computed on clipped estimates as Surprise's accuracy.rmse would be.
RATING_SCALE = (0.5, 5.0)

# Rows of the ratings frame evaluated at once for the training RMSE (bounded memory).
_RMSE_CHUNK_ROWS = 500_000


class NothingToTrain(ValueError):
    """There are no ratings, so there is no model to fit."""


@dataclass(frozen=True)
class SVDParams:
    """The hyper-parameters of ``surprise.SVD`` that MovieRec configures (MODEL_*)."""

    n_factors: int = 50
    n_epochs: int = 50
    lr_all: float = 0.008
    reg_all: float = 0.2
    random_state: int | None = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FactorModel(UserItemIndex):
    """A trained biased SVD as arrays: ``est(u, i) = mu + b_u + b_i + p_u . q_i``.

    ``user_ids`` and ``item_ids`` are the raw ids in ascending order; row ``k`` of
    ``user_bias``/``user_factors`` belongs to ``user_ids[k]`` (likewise for items).
    """

    global_mean: float
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray

    def with_items(self, item_ids: np.ndarray) -> FactorModel:
        """The same model serving the movies ``item_ids`` (ascending): the rows of the movies
        it knows, zero bias and factors for the others (so their estimate is ``mu + b_u``,
        Surprise's for an unknown movie). The user side is shared, not copied."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if np.array_equal(item_ids, self.item_ids):
            return self
        rows = positions(self.item_ids, item_ids)
        known = rows >= 0
        bias = np.zeros(len(item_ids), dtype=self.item_bias.dtype)
        bias[known] = self.item_bias[rows[known]]
        factors = np.zeros((len(item_ids), self.item_factors.shape[1]), self.item_factors.dtype)
        factors[known] = self.item_factors[rows[known]]
        return replace(self, item_ids=item_ids, item_bias=bias, item_factors=factors)


@dataclass
class TrainedSVD:
    """The fitted Surprise objects (for comparisons with Surprise itself) and their arrays."""

    algo: object  # surprise.SVD
    trainset: object  # surprise.Trainset
    model: FactorModel
    fit_seconds: float


def factors_of(algo: object) -> FactorModel:
    """Copy a fitted ``surprise.SVD``'s parameters into a ``FactorModel`` (raw-id order)."""
    trainset = algo.trainset  # type: ignore[attr-defined]
    user_raw = np.fromiter(
        (trainset.to_raw_uid(u) for u in range(trainset.n_users)), np.int64, trainset.n_users
    )
    item_raw = np.fromiter(
        (trainset.to_raw_iid(i) for i in range(trainset.n_items)), np.int64, trainset.n_items
    )
    return _in_raw_id_order(
        float(trainset.global_mean), user_raw, item_raw,
        algo.bu, algo.bi, algo.pu, algo.qi,  # type: ignore[attr-defined]
    )  # fmt: skip


def _in_raw_id_order(
    global_mean: float,
    user_raw: np.ndarray,
    item_raw: np.ndarray,
    bu: np.ndarray,
    bi: np.ndarray,
    pu: np.ndarray,
    qi: np.ndarray,
) -> FactorModel:
    """A ``FactorModel`` from parameters in inner-id order (row k = ``user_raw[k]``)."""
    user_order = np.argsort(user_raw, kind="stable")
    item_order = np.argsort(item_raw, kind="stable")
    return FactorModel(
        global_mean=global_mean,
        user_ids=user_raw[user_order],
        item_ids=item_raw[item_order],
        user_bias=np.ascontiguousarray(np.asarray(bu)[user_order], dtype=np.float64),
        item_bias=np.ascontiguousarray(np.asarray(bi)[item_order], dtype=np.float64),
        user_factors=np.ascontiguousarray(np.asarray(pu)[user_order], dtype=np.float64),
        item_factors=np.ascontiguousarray(np.asarray(qi)[item_order], dtype=np.float64),
    )


def train_svd(ratings: pd.DataFrame, params: SVDParams) -> TrainedSVD:
    """Fit Surprise's SVD on every row of ``ratings`` (columns user_id, movie_id, rating)."""
    from surprise import SVD, Dataset, Reader

    if ratings.empty:
        raise NothingToTrain("there are no ratings to train on")
    started = time.perf_counter()
    data = Dataset.load_from_df(
        ratings[["user_id", "movie_id", "rating"]], Reader(rating_scale=RATING_SCALE)
    )
    trainset = data.build_full_trainset()
    algo = SVD(
        n_factors=params.n_factors,
        n_epochs=params.n_epochs,
        lr_all=params.lr_all,
        reg_all=params.reg_all,
        random_state=params.random_state,
    )
    algo.fit(trainset)
    model = factors_of(algo)
    return TrainedSVD(algo, trainset, model, time.perf_counter() - started)


@dataclass(frozen=True)
class FittedSVD:
    """A rating model trained by ``fit_svd`` and how long the training took."""

    model: FactorModel
    fit_seconds: float


def fit_svd(ratings: RatingArrays, params: SVDParams) -> FittedSVD:
    """Train the model ``train_svd`` trains, on arrays: the same inner ids, visiting order,
    initial factors and floating point operations as ``surprise.SVD.fit`` (``recommender.sgd``),
    so the parameters and predictions are Surprise's bit for bit, without its per-rating Python
    objects (25M ratings: ~0.6 GB of arrays instead of ~9 GB) and several times faster.

    ``ratings`` in any order; the order is part of the model, as for Surprise (the database
    reads them ordered by user and movie)."""
    from movierec.recommender.sgd import SingleModel, build_trainset

    if ratings.empty:
        raise NothingToTrain("there are no ratings to train on")
    started = time.perf_counter()
    trainset = build_trainset(ratings.user_ids, ratings.movie_ids, ratings.ratings)
    sgd = SingleModel.start(
        trainset, params.n_factors, params.lr_all, params.reg_all, params.random_state
    )
    sgd.train(params.n_epochs)
    model = _in_raw_id_order(
        trainset.global_mean,
        trainset.user_index.to_numpy(dtype=np.int64),
        trainset.item_index.to_numpy(dtype=np.int64),
        sgd.bu, sgd.bi, sgd.pu, sgd.qi,
    )  # fmt: skip
    return FittedSVD(model, time.perf_counter() - started)


def estimate_pairs(model: FactorModel, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
    """Unclipped estimates of (user row, item row) pairs, summed in Surprise's order."""
    dots = np.einsum("ij,ij->i", model.user_factors[user_rows], model.item_factors[item_rows])
    return ((model.global_mean + model.user_bias[user_rows]) + model.item_bias[item_rows]) + dots


def score_block(model: FactorModel, first: int, stop: int) -> np.ndarray:
    """Unclipped estimates of a rating model's user rows ``first..stop-1`` against every movie.

    The sum is ``((mu + b_u) + b_i) + p_u . q_i``, the order of ``SVD.estimate``, so only the
    dot product's summation order (BLAS) can differ from Surprise, by a few ulps.
    """
    scores = model.user_factors[first:stop] @ model.item_factors.T
    scores += np.add.outer(model.global_mean + model.user_bias[first:stop], model.item_bias)
    return scores


def fold_in_user(
    model: FactorModel, item_rows: np.ndarray, ratings: np.ndarray, regularization: float
) -> tuple[float, np.ndarray]:
    """A user's bias and factors from their ratings alone, the movie side held fixed: the
    ridge regression SVD's own loss gives for one user,
    ``min sum_i (r_i - mu - b_i - b_u - p_u . q_i)^2 + reg (b_u^2 + |p_u|^2)``.
    Lets a user who rated since the last refresh (or a new one) get predicted stars at once."""
    rows = np.asarray(item_rows, dtype=np.int64)
    if len(rows) == 0:
        return 0.0, np.zeros(model.item_factors.shape[1])
    design = np.hstack([np.ones((len(rows), 1)), model.item_factors[rows].astype(np.float64)])
    target = np.asarray(ratings, dtype=np.float64) - model.global_mean - model.item_bias[rows]
    gram = design.T @ design
    gram[np.diag_indices_from(gram)] += regularization
    solution = np.linalg.solve(gram, design.T @ target)
    return float(solution[0]), solution[1:]


def training_rmse(model: FactorModel, ratings: pd.DataFrame | RatingArrays) -> float:
    """RMSE of the clipped estimates on the training ratings themselves (a sanity figure,
    not a generalisation estimate: model selection measures that by cross-validation)."""
    if isinstance(ratings, pd.DataFrame):
        ratings = RatingArrays.from_frame(ratings[["user_id", "movie_id", "rating"]])
    if ratings.empty:
        return float("nan")
    squared = 0.0
    for start in range(0, len(ratings), _RMSE_CHUNK_ROWS):
        chunk = slice(start, start + _RMSE_CHUNK_ROWS)
        users = model.user_positions(ratings.user_ids[chunk])
        items = model.item_positions(ratings.movie_ids[chunk])
        estimates = np.clip(estimate_pairs(model, users, items), *RATING_SCALE)
        squared += float(np.sum((ratings.ratings[chunk] - estimates) ** 2))
    return float(np.sqrt(squared / len(ratings)))
