"""Fold-in at MovieLens-25M's catalogue size: the servable model's blob size, load time and the
memory a worker spends on it, and the latency of a fold-in answer (recommend: ranker fold-in,
masking, top-k and predicted stars), of similar movies and of explanations.

Synthetic factors (random, seeded) of the default models' shapes: PureSVD with PURESVD_FACTORS
and the SVD rating model with MODEL_N_FACTORS over 59,047 movies; users with log-normal numbers
of ratings (at least 20, as in MovieLens). Goal: fold-in p99 <= 10 ms, so that a user who
has just rated gets a fresh list as fast as a cached one is served.

With the sequential ranker (the default, RANKER) the PureSVD part is the same, the EASE part
holds SEQUENTIAL_TASTE_ITEMS movies (random weights of its shape) and the transition table is
full: every movie with SEQUENTIAL_SUCCESSORS followers (drawn by popularity), the largest table
the setting allows, so the blob size printed is its bound. ``--ranker puresvd`` measures PureSVD
alone.

    python benchmarks/fold_in.py [--movies 59047] [--requests 2000] [--ranker puresvd|sequential]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from movierec.config import load_settings
from movierec.jobs.refresh import ranker_config
from movierec.recommender.blended import BlendedRanker
from movierec.recommender.head_ease import HeadEASE
from movierec.recommender.puresvd import PureSVDParams, PureSVDRanker
from movierec.recommender.sequential import SequentialParams, SequentialRanker
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel


def synthetic_transitions(
    n_movies: int, successors: int, rng: np.random.Generator
) -> sp.csr_matrix:
    popularity = 1 / np.arange(1, n_movies + 1) ** 0.9
    popularity /= popularity.sum()
    columns = rng.choice(n_movies, (n_movies, successors), p=popularity).astype(np.int32)
    columns.sort(axis=1)
    shares = rng.uniform(0.01, 0.5, (n_movies, successors)).astype(np.float32)
    indptr = np.arange(0, n_movies * successors + 1, successors, dtype=np.int64)
    table = sp.csr_matrix((shares.ravel(), columns.ravel(), indptr), shape=(n_movies, n_movies))
    table.sum_duplicates()  # a popular follower drawn twice
    return table


def synthetic_model(
    n_movies: int,
    ranker_factors: int,
    rating_factors: int,
    weight: float,
    sequential: SequentialParams | None = None,
):
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(200_000, n_movies, replace=False)).astype(np.int64)
    rating = FactorModel(
        global_mean=3.5,
        user_ids=np.empty(0, dtype=np.int64),
        item_ids=ids,
        user_bias=np.empty(0),
        item_bias=rng.normal(0, 0.3, n_movies),
        user_factors=np.empty((0, rating_factors)),
        item_factors=rng.normal(0, 0.1, (n_movies, rating_factors)),
    )
    base = PureSVDRanker(PureSVDParams(n_factors=ranker_factors))
    q, _ = np.linalg.qr(rng.normal(size=(n_movies, ranker_factors)))
    base.item_factors = q.astype(np.float32)
    base._column_scale = np.ones(n_movies, dtype=np.float32)
    base.item_ids, base.user_ids = ids, np.empty(0, dtype=np.int64)
    if sequential is not None:
        sequential_ranker = SequentialRanker(sequential)
        sequential_ranker.base = base
        sequential_ranker.transitions = synthetic_transitions(n_movies, sequential.successors, rng)
        if sequential.taste_items and sequential.taste_weight:
            head = min(sequential.taste_items, n_movies)
            sequential_ranker.taste = HeadEASE(
                head, sequential.taste_regularization, sequential.taste_damping,
                columns=np.sort(rng.choice(n_movies, head, replace=False)).astype(np.int64),
                weights=rng.normal(0, 0.01, (head, head)).astype(np.float32),
            )  # fmt: skip
        sequential_ranker.item_ids = ids
        sequential_ranker.user_ids = np.empty(0, dtype=np.int64)
        base = sequential_ranker
    ranker = BlendedRanker.restore(base, rating, weight, 0.2) if weight else base
    return ServingModel.of(ranker, rating, 0.2, time.time()), ids


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1e3
    p50, p99 = np.percentile(ms, [50, 99])
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {ms.max():6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--movies", type=int, default=59_047)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--ranker", choices=["puresvd", "sequential"], help="[default: RANKER]")
    args = parser.parse_args()
    settings = load_settings()
    args.ranker = args.ranker or settings.ranker
    if args.ranker not in ("puresvd", "sequential"):
        raise SystemExit(f"fold_in.py measures puresvd or sequential, not {args.ranker}")
    sequential = None
    if args.ranker == "sequential":
        params = ranker_config(settings, "sequential")[1]
        params.pop("rating_weight")
        sequential = SequentialParams(**params)
    built, ids = synthetic_model(args.movies, settings.puresvd_factors, settings.model_n_factors,
                                 settings.ranker_rating_weight, sequential)  # fmt: skip
    blob = built.to_bytes()
    del built  # what a worker holds is what it loads from the blob, nothing else
    started = time.perf_counter()
    model = ServingModel.from_bytes(blob)
    model.similar(int(ids[0]), 10)  # also builds the unit vectors once
    load_seconds = time.perf_counter() - started
    # The worker's cost: the arrays it keeps per version (RSS deltas in a process that just
    # built a model are hidden by the allocator reusing freed memory).
    state = model.ranker.state() if model.ranker is not None else {}
    held = [model.item_ids, model.rating.item_bias, model.rating.item_factors, *state.values()]
    worker_mb = (sum(a.nbytes for a in held) + model.unit_vectors().nbytes) / 2**20
    print(f"{args.movies:,} movies, ranker {model.ranker_name} ({settings.puresvd_factors} factors,"
          f" rating weight {settings.ranker_rating_weight}), rating model "
          f"{settings.model_n_factors} factors")  # fmt: skip
    print(
        f"blob {len(blob) / 2**20:.1f} MB; load {load_seconds * 1e3:.0f} ms; "
        f"worker memory {worker_mb:.0f} MB of arrays per version"
    )
    rng = np.random.default_rng(1)
    counts = np.clip(rng.lognormal(4.0, 1.0, args.requests).astype(int), 20, 3000)
    popularity = 1 / np.arange(1, args.movies + 1) ** 0.9
    popularity /= popularity.sum()
    fold, similar, explain = [], [], []
    for count in counts:
        rated = rng.choice(ids, count, replace=False, p=popularity)
        stars = rng.integers(1, 11, count) / 2
        t0 = time.perf_counter()
        recommended, _, _ = model.recommend(rated, stars, rated, 20)
        t1 = time.perf_counter()
        model.similar(int(rated[0]), 10)
        t2 = time.perf_counter()
        model.explain(rated[stars >= 4], recommended, 2)
        t3 = time.perf_counter()
        fold.append(t1 - t0)
        similar.append(t2 - t1)
        explain.append(t3 - t2)
    print(
        f"{args.requests} users with {int(np.median(counts))} ratings (median), "
        f"{counts.max()} at most:"
    )
    print(f"  fold-in recommend (20)  {percentiles(fold)}")
    print(f"  similar movies (10)     {percentiles(similar)}")
    print(f"  explanations (20 x 2)   {percentiles(explain)}")
    p99 = np.percentile(np.array(fold) * 1e3, 99)
    print("goal fold-in p99 <= 10 ms: " + ("met" if p99 <= 10 else f"MISSED ({p99:.1f} ms)"))


if __name__ == "__main__":
    main()
