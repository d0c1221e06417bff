"""Benchmark: training the rating model (SVD) three ways on the same synthetic ratings.

    python benchmarks/rating_model.py [--ratings 1000000] [--epochs 50] [--factors 50]

* Surprise: ``surprise.SVD.fit`` (``train_svd``: the reference; builds Surprise's trainset);
* lanes: ``sgd.LaneModels`` with one lane (the model-selection kernel);
* fit_svd: the single-model loop on arrays (``training.fit_svd``).

All three train on the ratings in the database's order (user, then movie) with the MODEL_*
defaults for lr/reg and seed 0. Prints seconds and peak-RSS growth per step, and checks that
fit_svd's parameters equal Surprise's bit for bit (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
import time

import numpy as np
import psutil
from synthetic import synthetic_ratings

from movierec.recommender.data import RatingArrays
from movierec.recommender.sgd import LaneModels, build_trainset, warm_up
from movierec.recommender.training import SVDParams, fit_svd, train_svd


class PeakRSS:
    """Peak resident memory above the start of a ``with`` block, sampled by a thread every
    10 ms (the numba loop releases the GIL; a sample also closes the block), and the CPU
    seconds the process spent in it (on a shared machine wall time also counts others' work)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.grown_mib = 0.0

    def _sample(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)

    def _run(self) -> None:
        while not self.done.wait(0.01):
            self._sample()

    def __enter__(self) -> PeakRSS:
        self.cpu_started = time.process_time()
        self.start = self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()
        self._sample()
        self.grown_mib = (self.peak - self.start) / 2**20
        self.cpu_seconds = time.process_time() - self.cpu_started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--factors", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-surprise", action="store_true", help="no Surprise reference")
    args = parser.parse_args()

    frame = synthetic_ratings(args.ratings, args.seed)
    arrays = RatingArrays(
        frame["userId"].to_numpy(np.int64),
        frame["movieId"].to_numpy(np.int64),
        frame["rating"].to_numpy(np.float64),
    )
    frame = arrays.to_frame()
    params = SVDParams(n_factors=args.factors, n_epochs=args.epochs, random_state=0)
    print(f"{len(arrays):,} ratings, {frame['user_id'].nunique():,} users, "
          f"{frame['movie_id'].nunique():,} movies; SVD {params.as_dict()}")  # fmt: skip
    warm_up()
    rows = []

    with PeakRSS() as memory:
        fitted = fit_svd(arrays, params)
    rows.append(("fit_svd (single-model loop, arrays)", fitted.fit_seconds, memory))

    with PeakRSS() as memory:
        trainset = build_trainset(arrays.user_ids, arrays.movie_ids, arrays.ratings)
        lanes = LaneModels(trainset, params.n_factors, [params.lr_all], [params.reg_all], 0)
        started = time.perf_counter()
        lanes.train(params.n_epochs)
        seconds = time.perf_counter() - started
    rows.append(("LaneModels, one lane (SGD only)", seconds, memory))
    same_as_lanes = np.array_equal(lanes.lane(0)["qi"], fitted_inner_qi(fitted, trainset))
    del lanes, trainset
    gc.collect()

    same_as_surprise = None
    if not args.skip_surprise:
        with PeakRSS() as memory:
            trained = train_svd(frame, params)
        rows.append(("Surprise SVD.fit (train_svd)", trained.fit_seconds, memory))
        ours, theirs = fitted.model, trained.model
        same_as_surprise = all(
            np.array_equal(getattr(ours, name), getattr(theirs, name))
            for name in ("user_bias", "item_bias", "user_factors", "item_factors")
        )

    print(f"\n{'step':<36}{'wall s':>9}{'CPU s':>9}{'peak RSS growth MiB':>21}")
    for name, seconds, memory in rows:
        print(f"{name:<36}{seconds:>9.2f}{memory.cpu_seconds:>9.2f}{memory.grown_mib:>21,.0f}")
    ours = rows[0][2].cpu_seconds
    for name, _, memory in rows[1:]:
        print(f"fit_svd needs {memory.cpu_seconds / ours:.1f}x less CPU than {name}")
    print(f"fit_svd == LaneModels bit for bit: {same_as_lanes}")
    if same_as_surprise is not None:
        print(f"fit_svd == Surprise bit for bit: {same_as_surprise}")
    return 0 if same_as_lanes and same_as_surprise is not False else 1


def fitted_inner_qi(fitted, trainset) -> np.ndarray:  # type: ignore[no-untyped-def]
    """fit_svd's item factors back in the trainset's inner-id order."""
    return fitted.model.item_factors[fitted.model.item_positions(trainset.item_index.to_numpy())]


if __name__ == "__main__":
    sys.exit(main())
