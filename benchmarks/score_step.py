"""Benchmark: the refresh's score step (``iter_top_n``) at the MovieLens-25M shape, no database.

    python benchmarks/score_step.py [--users 4000] [--items 59047] [--threads 2] [--stages]

Synthetic factors: the default ranker (PureSVD, 24 float32 factors, blended with the rating
model's predicted stars at weight 0.1) and a 50-factor float64 rating model, every user with
~154 rated movies (25M ratings / 162,541 users). Scoring cost per user does not depend on the
number of users, so a few thousand users give the time per 1000 users; the 25M estimate is
that times 162.541. ``--stages`` also times the stages of one batch on one thread.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from movierec.recommender.blended import BlendedRanker
from movierec.recommender.puresvd import PureSVDRanker
from movierec.recommender.scoring import RatedItems, iter_top_n, users_per_batch
from movierec.recommender.training import FactorModel, score_block

USERS_25M = 162_541


def synthetic(n_users: int, n_items: int, seed: int = 0) -> tuple[BlendedRanker, RatedItems]:
    rng = np.random.default_rng(seed)
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)
    item_ids = np.arange(1, n_items + 1, dtype=np.int64)
    model = FactorModel(
        global_mean=3.5,
        user_ids=user_ids,
        item_ids=item_ids,
        user_bias=rng.normal(0, 0.3, n_users),
        item_bias=rng.normal(0, 0.3, n_items),
        user_factors=rng.normal(0, 0.1, (n_users, 50)),
        item_factors=rng.normal(0, 0.1, (n_items, 50)),
    )
    base = PureSVDRanker()
    # Popularity-like skew: a few movies with large factors, most near zero.
    scale = (1.0 / np.arange(1, n_items + 1)) ** 0.5
    base.item_factors = np.ascontiguousarray(
        rng.normal(0, 1, (n_items, 24)) * scale[:, None], dtype=np.float32
    )
    base.user_factors = np.ascontiguousarray(rng.normal(0, 1, (n_users, 24)), dtype=np.float32)
    base.user_ids, base.item_ids = user_ids, item_ids
    ranker = BlendedRanker(base, model, 0.1)
    ranker.user_ids, ranker.item_ids = user_ids, item_ids
    ranker._user_rows, ranker._item_rows = np.arange(n_users), np.arange(n_items)
    ranker._aligned = True
    counts = rng.poisson(154, n_users)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(
        [np.sort(rng.choice(n_items, c, replace=False)) for c in counts]
    ).astype(np.int64)
    return ranker, RatedItems(indptr, indices)


def stages(ranker: BlendedRanker, batch: int) -> None:
    model, base = ranker.rating_model, ranker.base

    def timed(label: str, function, repeat: int = 5):  # type: ignore[no-untyped-def]
        function()
        started = time.perf_counter()
        for _ in range(repeat):
            result = function()
        print(f"  {label:<40} {1000 * (time.perf_counter() - started) / repeat:8.2f} ms")
        return result

    print(f"one batch of {batch} users, one thread:")
    timed("base score_users (sgemm)", lambda: base.score_users(0, batch))
    timed("rating product (dgemm)", lambda: model.user_factors[:batch] @ model.item_factors.T)
    timed("score_block (dgemm + biases)", lambda: score_block(model, 0, batch))
    timed("blended score_users", lambda: ranker.score_users(0, batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--items", type=int, default=59_047)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=128)
    parser.add_argument("--n", type=int, default=30, help="list length (TOP_N + margin)")
    parser.add_argument("--stages", action="store_true")
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS (unset: as the refresh)"
    )
    args = parser.parse_args()
    ranker, rated = synthetic(args.users, args.items)
    batch = users_per_batch(args.items, args.memory_mb * 2**20)
    with threadpool_limits(args.blas_threads, "blas"):
        if args.stages:
            stages(ranker, batch)
        list(iter_top_n(ranker, rated, args.n, threads=args.threads, memory_bytes=2**20 * 8))
        started = time.perf_counter()
        lists = sum(
            1
            for _ in iter_top_n(
                ranker, rated, args.n, memory_bytes=args.memory_mb * 2**20, threads=args.threads
            )
        )
        seconds = time.perf_counter() - started
    per_1000 = 1000 * seconds / lists
    print(
        f"{lists} users x {args.items} movies, batch {batch} users, {args.threads} threads: "
        f"{per_1000:.3f} s per 1000 users, 25M estimate {per_1000 * USERS_25M / 1000:.1f} s"
    )


if __name__ == "__main__":
    main()
