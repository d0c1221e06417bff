"""Surprise's SVD training, reproduced bit for bit, with snapshots after chosen epochs and
several learning rates / regularisations trained side by side.

Why not call ``surprise.SVD.fit``: a grid over ``n_epochs`` [10, 30, 50] would train the same
model three times, because SVD.fit gives no access to the model after epoch 10 or 30. With a
fixed seed the initial factors do not depend on ``n_epochs`` (they are drawn before the first
epoch), so one 50-epoch run evaluated after epochs 10 and 30 *is* the 10- and 30-epoch models.
Likewise, every (lr_all, reg_all) pair with the same ``n_factors`` starts from the same factors
and walks the ratings in the same order, so they are trained as "lanes" of one array: each lane
does exactly the floating point operations of Surprise's Cython loop, in the same order, and
the compiler vectorises across lanes instead of within one (which would reorder the sums).

``SingleModel`` is the same training for one model (the refresh's rating model, through
``training.fit_svd``): no lane axis, each user's and item's factors one contiguous row. Each
rating's dot product is a chain of 50 dependent additions that bit-for-bit equality forbids
reordering, so that chain, not memory or Python, sets the loop's speed.

Bit-for-bit equality rests on three things Surprise does and this module copies:

* inner ids in order of first appearance in the training ratings, the ratings visited user by
  user (that order of first appearance) and, within a user, in training-set order
  (``Trainset.all_ratings``); the global mean is ``np.mean`` over that sequence;
* ``pu = rng.normal(mean, std, (n_users, k))`` then ``qi = rng.normal(...)`` from
  ``numpy.random.RandomState(seed)`` (``surprise.utils.get_rng``);
* the update order of ``SVD.sgd``: the dot product summed f = 0..k-1, the error as
  ``r - (((mu + bu) + bi) + dot)``, the biases, then each factor pair from the old values.

Numba compiles without fast-math, so no sum is reordered and no multiply-add fused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

RATING_SCALE = (0.5, 5.0)

# Ratings ahead whose movie row is prefetched (measured: 4-16 all help, 48 no longer does).
_PREFETCH_AHEAD = 8


def _prefetch(array: np.ndarray, index: int) -> None:
    """Hint the CPU to fetch ``array[index]`` into cache. Changes no value, only when the load
    later happens; so in plain Python (``NUMBA_DISABLE_JIT=1``) it does nothing, and compiled
    it is ``_llvm_prefetch``."""


@intrinsic
def _llvm_prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
    """llvm.prefetch of ``array[index]``: read, high locality."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        flags = [ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        builder.call(function, [builder.bitcast(pointer, byte_pointer), *flags])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@overload(_prefetch, inline="always")
def _compiled_prefetch(array, index):  # type: ignore[no-untyped-def]
    def prefetch(array, index):  # type: ignore[no-untyped-def]
        _llvm_prefetch(array, index)

    return prefetch


@dataclass(frozen=True)
class TrainingSet:
    """Training ratings in Surprise's inner-id space and visiting order."""

    users: np.ndarray  # int64 inner user ids, in Trainset.all_ratings() order
    items: np.ndarray  # int64 inner item ids
    ratings: np.ndarray  # float64
    n_users: int
    n_items: int
    global_mean: float
    user_index: pd.Index  # raw user id -> inner id (position)
    item_index: pd.Index


def build_trainset(user_ids: np.ndarray, movie_ids: np.ndarray, ratings: np.ndarray) -> TrainingSet:
    """The equivalent of ``Dataset.construct_trainset`` for ratings in the given order."""
    users, user_index = pd.factorize(np.asarray(user_ids), sort=False)
    items, item_index = pd.factorize(np.asarray(movie_ids), sort=False)
    values = np.asarray(ratings, dtype=np.float64)
    # all_ratings() walks a dict of per-user lists: users by first appearance, a stable sort.
    # Ratings read from the database come grouped by user already (ORDER BY user_id): then the
    # sort is the identity and skipping it saves its index and three copies (25M: ~800 MB).
    if len(users) and np.all(users[1:] >= users[:-1]):
        users, ordered = users.astype(np.int64, copy=False), np.ascontiguousarray(values)
    else:
        order = np.argsort(users, kind="stable")
        users, items, ordered = users[order].astype(np.int64), items[order], values[order]
        del order
    return TrainingSet(
        users=np.ascontiguousarray(users),
        items=np.ascontiguousarray(items.astype(np.int64, copy=False)),
        ratings=np.ascontiguousarray(ordered),
        n_users=len(user_index),
        n_items=len(item_index),
        global_mean=float(np.mean(ordered)),
        user_index=pd.Index(user_index),
        item_index=pd.Index(item_index),
    )


def inner_ids(trainset: TrainingSet, user_ids: np.ndarray, movie_ids: np.ndarray) -> tuple:
    """Inner ids of raw (user, movie) pairs; -1 for a user or movie the trainset has not seen."""
    users = trainset.user_index.get_indexer(np.asarray(user_ids)).astype(np.int64)
    items = trainset.item_index.get_indexer(np.asarray(movie_ids)).astype(np.int64)
    return users, items


def initial_factors(
    n_users: int,
    n_items: int,
    n_factors: int,
    seed: int | None,
    init_mean: float = 0.0,
    init_std_dev: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """pu and qi as SVD.sgd draws them (``surprise.utils.get_rng`` semantics for the seed)."""
    rng = np.random.mtrand._rand if seed is None else np.random.RandomState(seed)
    pu = rng.normal(init_mean, init_std_dev, size=(n_users, n_factors))
    qi = rng.normal(init_mean, init_std_dev, size=(n_items, n_factors))
    return pu, qi


@njit(cache=True, nogil=True)
def _sgd_epochs(users, items, ratings, global_mean, bu, bi, pu, qi, lr, reg, n_epochs):
    # Arrays carry one model per lane (last axis). Per lane this is SVD.sgd line by line.
    n_lanes = lr.shape[0]
    n_factors = pu.shape[1]
    dot = np.empty(n_lanes)
    err = np.empty(n_lanes)
    for _ in range(n_epochs):
        for k in range(ratings.shape[0]):
            u = users[k]
            i = items[k]
            r = ratings[k]
            for c in range(n_lanes):
                dot[c] = 0.0
            for f in range(n_factors):
                for c in range(n_lanes):
                    dot[c] += qi[i, f, c] * pu[u, f, c]
            for c in range(n_lanes):
                err[c] = r - (global_mean + bu[u, c] + bi[i, c] + dot[c])
                bu[u, c] += lr[c] * (err[c] - reg[c] * bu[u, c])
                bi[i, c] += lr[c] * (err[c] - reg[c] * bi[i, c])
            for f in range(n_factors):
                for c in range(n_lanes):
                    puf = pu[u, f, c]
                    qif = qi[i, f, c]
                    pu[u, f, c] += lr[c] * (err[c] * qif - reg[c] * puf)
                    qi[i, f, c] += lr[c] * (err[c] * puf - reg[c] * qif)


@njit(cache=True, nogil=True)
def _sgd_epochs_single(users, items, ratings, global_mean, bu, bi, pu, qi, lr, reg, n_epochs):
    # One model, factors contiguous per user / item row: SVD.sgd line by line. The dot product
    # stays a sequential sum (no fast-math, so it is not reordered); the factor update has no
    # dependence between factors, so the compiler vectorises it without changing any result.
    # The movies come in no order (users do: a user's row stays in cache), so a movie's row
    # is usually a cache miss; prefetching it a few ratings ahead hides most of that wait
    # behind the current rating's dependent sum (measured at 25M shapes: ~1.5-2x faster).
    n_factors = pu.shape[1]
    n_ratings = ratings.shape[0]
    for _ in range(n_epochs):
        for k in range(n_ratings):
            if k + _PREFETCH_AHEAD < n_ratings:
                upcoming = items[k + _PREFETCH_AHEAD]
                row = qi[upcoming]
                for f in range(0, n_factors, 8):  # one hint per 64-byte line
                    _prefetch(row, f)
                _prefetch(bi, upcoming)
            u = users[k]
            i = items[k]
            pu_u = pu[u]
            qi_i = qi[i]
            dot = 0.0
            for f in range(n_factors):
                dot += qi_i[f] * pu_u[f]
            err = ratings[k] - (global_mean + bu[u] + bi[i] + dot)
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
            for f in range(n_factors):
                puf = pu_u[f]
                qif = qi_i[f]
                pu_u[f] = puf + lr * (err * qif - reg * puf)
                qi_i[f] = qif + lr * (err * puf - reg * qif)


@njit(cache=True, nogil=True)
def _estimate(users, items, global_mean, bu, bi, pu, qi, low, high):
    # SVD.estimate + AlgoBase.predict(clip=True): unknown user or item adds nothing for it.
    n = users.shape[0]
    n_lanes = bu.shape[1]
    n_factors = pu.shape[1]
    est = np.empty((n_lanes, n))
    # SVD.estimate uses np.dot (BLAS ddot, whose summation order is its own); numba's np.dot
    # calls the same kind of BLAS kernel on contiguous vectors, so predictions match exactly.
    qv = np.empty(n_factors)
    pv = np.empty(n_factors)
    for k in range(n):
        u = users[k]
        i = items[k]
        for c in range(n_lanes):
            e = global_mean
            if u >= 0:
                e += bu[u, c]
            if i >= 0:
                e += bi[i, c]
            if u >= 0 and i >= 0:
                for f in range(n_factors):
                    qv[f] = qi[i, f, c]
                    pv[f] = pu[u, f, c]
                e += np.dot(qv, pv)
            est[c, k] = max(low, min(high, e))
    return est


def warm_up() -> None:
    """Compile (or load from numba's cache) both kernels now, so that timings measure work."""
    one = np.zeros(1, dtype=np.int64)
    model = np.zeros((1, 1, 1))
    bias = np.zeros((1, 1))
    rate = np.full(1, 0.01)
    _sgd_epochs(one, one, np.ones(1), 1.0, bias, bias.copy(), model, model.copy(), rate, rate, 1)
    _estimate(one, one, 1.0, bias, bias, model, model, *RATING_SCALE)
    _sgd_epochs_single(one, one, np.ones(1), 1.0, np.zeros(1), np.zeros(1),
                       np.zeros((1, 1)), np.zeros((1, 1)), 0.01, 0.01, 1)  # fmt: skip


class LaneModels:
    """SVD models with the same n_factors and seed and one (lr_all, reg_all) per lane."""

    def __init__(
        self,
        trainset: TrainingSet,
        n_factors: int,
        lr_all: Sequence[float],
        reg_all: Sequence[float],
        seed: int | None,
        init_mean: float = 0.0,
        init_std_dev: float = 0.1,
    ) -> None:
        if len(lr_all) != len(reg_all) or not lr_all:
            raise ValueError("lr_all and reg_all need one value per lane")
        self.trainset = trainset
        self.lr = np.asarray(lr_all, dtype=np.float64)
        self.reg = np.asarray(reg_all, dtype=np.float64)
        lanes = len(self.lr)
        pu, qi = initial_factors(
            trainset.n_users, trainset.n_items, n_factors, seed, init_mean, init_std_dev
        )
        # Every lane starts from the same draw, as separate SVD(random_state=seed) fits would.
        self.pu = np.ascontiguousarray(np.repeat(pu[:, :, None], lanes, axis=2))
        self.qi = np.ascontiguousarray(np.repeat(qi[:, :, None], lanes, axis=2))
        self.bu = np.zeros((trainset.n_users, lanes))
        self.bi = np.zeros((trainset.n_items, lanes))
        self.epochs_done = 0

    def train(self, n_epochs: int) -> None:
        """Continue the SGD for ``n_epochs`` more epochs."""
        if n_epochs <= 0:
            return
        t = self.trainset
        _sgd_epochs(
            t.users, t.items, t.ratings, t.global_mean,
            self.bu, self.bi, self.pu, self.qi, self.lr, self.reg, n_epochs,
        )  # fmt: skip
        self.epochs_done += n_epochs

    def train_through(
        self, checkpoints: Sequence[int], on_epoch: Callable[[], None] | None = None
    ) -> Iterator[int]:
        """Train up to each epoch count in ascending order, yielding after reaching each;
        ``on_epoch`` is called after every epoch (then the epochs run one call each: the same
        arithmetic, as an epoch carries nothing over but the parameters)."""
        for epochs in sorted(set(checkpoints)):
            if on_epoch is None:
                self.train(epochs - self.epochs_done)
            else:
                while self.epochs_done < epochs:
                    self.train(1)
                    on_epoch()
            yield epochs

    def predict_inner(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Clipped estimates, shape (lanes, n), for inner ids (-1 = unknown)."""
        return _estimate(
            np.ascontiguousarray(users, dtype=np.int64),
            np.ascontiguousarray(items, dtype=np.int64),
            self.trainset.global_mean,
            self.bu, self.bi, self.pu, self.qi, *RATING_SCALE,
        )  # fmt: skip

    def predict(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        users, items = inner_ids(self.trainset, user_ids, movie_ids)
        return self.predict_inner(users, items)

    def lane(self, c: int) -> dict[str, np.ndarray]:
        """One lane's parameters, shaped like SVD's attributes (bu, bi, pu, qi)."""
        return {
            "bu": self.bu[:, c].copy(),
            "bi": self.bi[:, c].copy(),
            "pu": self.pu[:, :, c].copy(),
            "qi": self.qi[:, :, c].copy(),
        }


@dataclass
class SingleModel:
    """One SVD model trained as ``SVD.fit`` trains it, on arrays only: no lane axis, so the
    factors of a user (an item) are one contiguous row, as in Surprise's ``pu[u, :]``."""

    trainset: TrainingSet
    bu: np.ndarray
    bi: np.ndarray
    pu: np.ndarray
    qi: np.ndarray
    lr_all: float
    reg_all: float
    epochs_done: int = 0

    @classmethod
    def start(
        cls,
        trainset: TrainingSet,
        n_factors: int,
        lr_all: float,
        reg_all: float,
        seed: int | None,
        init_mean: float = 0.0,
        init_std_dev: float = 0.1,
    ) -> SingleModel:
        """Zero biases and the factors SVD(random_state=seed) would draw before epoch one."""
        pu, qi = initial_factors(
            trainset.n_users, trainset.n_items, n_factors, seed, init_mean, init_std_dev
        )
        return cls(
            trainset,
            np.zeros(trainset.n_users),
            np.zeros(trainset.n_items),
            np.ascontiguousarray(pu),
            np.ascontiguousarray(qi),
            float(lr_all),
            float(reg_all),
        )

    def train(self, n_epochs: int) -> None:
        """Continue the SGD for ``n_epochs`` more epochs (releases the GIL while it runs)."""
        if n_epochs <= 0:
            return
        t = self.trainset
        _sgd_epochs_single(
            t.users, t.items, t.ratings, t.global_mean,
            self.bu, self.bi, self.pu, self.qi, self.lr_all, self.reg_all, n_epochs,
        )  # fmt: skip
        self.epochs_done += n_epochs
