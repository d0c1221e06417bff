"""Benchmark: the recommendations refresh against Surprise's documented top-N recipe.

    python benchmarks/refresh.py                    # ml-latest-small (~2 min, ~3 GB for Surprise)
    python benchmarks/refresh.py --synthetic-25m    # plus a MovieLens-25M-sized scoring estimate

On the same trained SVD (the MODEL_* settings), in one run:

* our scoring: every user against every movie, vectorised numpy in batches, top N + margin;
* Surprise's recipe from its FAQ ("How to get the top-N recommendations for each user"):
  ``trainset.build_anti_testset()``, ``algo.test(...)``, then sort each user's predictions;
* equality: our scores against Surprise's own ``predict(u, i, clip=False).est`` on a random
  sample of pairs (max abs difference), and our lists against a ranking of every unrated movie
  by ``predict(clip=False)`` for a sample of users;
* the full refresh as the scheduler runs it minus the database read: train, score, publish to
  the Redis at --redis-url under a throwaway key prefix (deleted afterwards).

Prints a table and the scoring speed-up; exits 1 if a score differs by more than 1e-9 or a
sampled list differs.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from shared_data import ML_SMALL

from movierec.cache import CacheStore
from movierec.config import load_settings
from movierec.data.movielens import read_ratings
from movierec.jobs.refresh import svd_params
from movierec.recommender.scoring import RatedItems, iter_top_n, users_per_batch
from movierec.recommender.training import FactorModel, estimate_pairs, train_svd

REPO = Path(__file__).resolve().parents[1]
SCORE_TOLERANCE = 1e-9


def surprise_faq_top_n(algo, trainset, n: int) -> dict[int, list[tuple[int, float]]]:  # type: ignore[no-untyped-def]
    """Verbatim in substance: Surprise FAQ, "How to get the top-N recommendations"."""
    testset = trainset.build_anti_testset()
    predictions = algo.test(testset)
    top_n: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for uid, iid, _true_r, est, _ in predictions:
        top_n[uid].append((iid, est))
    for uid, user_ratings in top_n.items():
        user_ratings.sort(key=lambda x: x[1], reverse=True)
        top_n[uid] = user_ratings[:n]
    return top_n


def score_sample(trained, ratings: pd.DataFrame, pairs: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    """Largest |ours - Surprise's predict(clip=False)| over random (user, movie) pairs."""
    model = trained.model
    rng = np.random.default_rng(seed)
    users = rng.choice(model.user_ids, pairs)
    items = rng.choice(model.item_ids, pairs)
    ours = estimate_pairs(model, model.user_positions(users), model.item_positions(items))
    predict = trained.algo.predict
    theirs = np.fromiter(
        (
            predict(u, i, clip=False).est
            for u, i in zip(users.tolist(), items.tolist(), strict=True)
        ),
        np.float64,
        pairs,
    )
    return float(np.max(np.abs(ours - theirs)))


def lists_match(
    trained, ratings: pd.DataFrame, ours: dict[int, np.ndarray], users: int, seed: int
) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """How many of ``users`` sampled users get exactly the ranking of all their unrated movies
    by Surprise's unclipped ``predict`` (ties by movie id)."""
    model = trained.model
    rated = ratings.groupby("user_id")["movie_id"].apply(set)
    sample = np.random.default_rng(seed).choice(model.user_ids, users, replace=False)
    same = 0
    for user in sample.tolist():
        ranked = sorted(
            (-trained.algo.predict(user, movie, clip=False).est, movie)
            for movie in model.item_ids.tolist()
            if movie not in rated[user]
        )
        expected = [movie for _, movie in ranked[: len(ours[user])]]
        same += expected == ours[user].tolist()
    return same, users


def synthetic_25m(n: int, memory_bytes: int, batches: int, seed: int) -> dict[str, float]:
    """Scoring time on random factors of MovieLens-25M's size, extrapolated from ``batches``
    batches (the work per batch is the same whatever the values)."""
    n_users, n_items, n_factors, n_ratings = 162_541, 59_047, 50, 25_000_095
    rng = np.random.default_rng(seed)
    model = FactorModel(
        global_mean=3.5,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.arange(1, n_items + 1, dtype=np.int64),
        user_bias=rng.normal(0, 0.3, n_users),
        item_bias=rng.normal(0, 0.3, n_items),
        user_factors=rng.normal(0, 0.1, (n_users, n_factors)),
        item_factors=rng.normal(0, 0.1, (n_items, n_factors)),
    )
    batch = users_per_batch(n_items, memory_bytes)
    scored_users = batch * batches
    per_user = n_ratings // n_users  # ~154 rated movies each, as in ML-25M on average
    users = np.repeat(np.arange(1, scored_users + 1), per_user)
    movies = rng.integers(1, n_items + 1, len(users))
    rated = RatedItems.from_ratings(model, users, movies)
    spent = 0.0

    def clock(done: int, seconds: float) -> None:
        nonlocal spent
        spent += seconds

    lists = iter_top_n(model, rated, n, memory_bytes=memory_bytes, on_batch=clock)
    for done, _ in enumerate(lists, start=1):
        if done == scored_users:
            break
    return {
        "users per batch": batch,
        "batches timed": batches,
        "seconds per batch": spent / batches,
        "estimated scoring seconds": spent / scored_users * n_users,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=ML_SMALL,
        help="MovieLens folder with ratings.csv [default: $MOVIEREC_SHARED_DATA/ml-latest-small]",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--pairs", type=int, default=300_000, help="pairs for the score check")
    parser.add_argument("--list-users", type=int, default=40, help="users for the list check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--synthetic-25m", action="store_true", help="also estimate scoring at ML-25M size"
    )
    parser.add_argument("--synthetic-batches", type=int, default=40)
    args = parser.parse_args()

    settings = load_settings()
    params = svd_params(settings)
    n = settings.top_n + settings.recommendations_margin
    memory_bytes = settings.scoring_memory_mb * 2**20
    ratings = read_ratings(args.source)[["user_id", "movie_id", "rating"]]
    print(f"data: {args.source} ({len(ratings):,} ratings); SVD {params.as_dict()}; N = {n}")

    # The full refresh (no database read): train, score, publish.
    started = time.perf_counter()
    trained = train_svd(ratings, params)
    fit_seconds = time.perf_counter() - started
    model = trained.model
    rated = RatedItems.from_ratings(model, ratings["user_id"], ratings["movie_id"])
    score_clock = 0.0

    def clock(_users: int, seconds: float) -> None:
        nonlocal score_clock
        score_clock += seconds

    store = CacheStore(args.redis_url, f"movierec-bench-{uuid.uuid4().hex[:8]}", 1000)
    publish_started = time.perf_counter()
    try:
        store.publish_recommendations(
            iter_top_n(model, rated, n, memory_bytes=memory_bytes, on_batch=clock)
        )
        publish_seconds = time.perf_counter() - publish_started - score_clock
        published = store.recommendation_users()
    finally:
        for key in store.client.scan_iter(match=store.key("*"), count=1000):
            store.client.delete(key)
        store.close()
    refresh_seconds = time.perf_counter() - started

    # Our scoring alone, kept in memory for the comparisons.
    started = time.perf_counter()
    ours = dict(iter_top_n(model, rated, n, memory_bytes=memory_bytes))
    our_seconds = time.perf_counter() - started

    max_diff = score_sample(trained, ratings, args.pairs, args.seed)
    same, sampled = lists_match(trained, ratings, ours, args.list_users, args.seed)

    # Surprise's recipe on the same model.
    gc.collect()
    started = time.perf_counter()
    faq = surprise_faq_top_n(trained.algo, trained.trainset, n)
    surprise_seconds = time.perf_counter() - started
    # Clipped at 5.0, the best movies of a user tie and the recipe's order among them is the
    # anti-testset's (catalogue order), not the model's.
    at_five = np.array([sum(est >= 5.0 for _, est in faq[u]) for u in faq])
    del faq
    gc.collect()

    rows = [
        ("train (Surprise SVD.fit)", fit_seconds),
        ("score: vectorised numpy, ours", score_clock),
        ("publish to Redis (pipelined)", publish_seconds),
        ("full refresh: train + score + publish", refresh_seconds),
        ("score again (ours, alone)", our_seconds),
        ("score: Surprise FAQ anti-testset recipe", surprise_seconds),
    ]
    print()
    print(f"{'step':<42}{'seconds':>10}")
    for name, seconds in rows:
        print(f"{name:<42}{seconds:>10.2f}")
    print()
    print(f"users published: {published:,} of {model.n_users:,}")
    print(f"scoring speed-up over the Surprise recipe: {surprise_seconds / our_seconds:,.0f}x")
    print(
        f"scores vs Surprise predict(clip=False), {args.pairs:,} random pairs: "
        f"max |diff| = {max_diff:.2e}"
    )
    print(f"lists identical to ranking by predict(clip=False): {same} of {sampled} sampled users")
    print(
        f"Surprise recipe (clipped estimates): {np.mean(at_five >= 2):.0%} of users have a tie "
        f"at 5.0 at the top of their list ({np.mean(at_five == n):.0%}: all {n} tied)"
    )

    if args.synthetic_25m:
        del trained, ours
        gc.collect()
        estimate = synthetic_25m(n, memory_bytes, args.synthetic_batches, args.seed)
        fit_estimate = fit_seconds * 25_000_095 / len(ratings)
        print()
        print("MovieLens-25M size (162,541 users x 59,047 movies x 50 factors), random factors:")
        for key, value in estimate.items():
            print(f"  {key}: {value:,.2f}")
        print(f"  training, extrapolated linearly from this run's fit: {fit_estimate:,.0f} s")

    ok = max_diff <= SCORE_TOLERANCE and same == sampled
    print("\nOK" if ok else "\nMISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
