"""Benchmark: our grid search against Surprise's GridSearchCV, same grid, folds and seeds.

    python benchmarks/grid_search.py            # the original 144-combination grid (~5 min)
    python benchmarks/grid_search.py --quick    # 16 combinations, for a quick check

Both sides get the same Dataset (ratings.csv order), ``KFold(folds, random_state=seed)`` and
``SVD(random_state=seed)`` (GridSearchCV's grid carries ``random_state: [seed]``; unseeded, its
result would itself be random). Prints both times, the ratio, both winners, and the largest
difference over all combinations' mean RMSE / MAE; exits 1 if the winners differ or any score
differs by more than 1e-9.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from shared_data import ML_SMALL

from movierec.data.movielens import read_ratings
from movierec.recommender.model_selection import DEFAULT_GRID, combinations, grid_search

REPO = Path(__file__).resolve().parents[1]
QUICK_GRID = {
    "n_factors": [10, 50],
    "n_epochs": [10, 50],
    "lr_all": [0.005, 0.008],
    "reg_all": [0.2, 0.4],
}


def run_surprise(ratings, grid, folds: int, seed: int, jobs: int):  # type: ignore[no-untyped-def]
    from surprise import SVD, Dataset, Reader
    from surprise.model_selection import GridSearchCV, KFold

    data = Dataset.load_from_df(
        ratings[["user_id", "movie_id", "rating"]], Reader(rating_scale=(0.5, 5.0))
    )
    search = GridSearchCV(
        SVD,
        {**grid, "random_state": [seed]},
        measures=["rmse", "mae"],
        cv=KFold(folds, random_state=seed),
        n_jobs=jobs,
    )
    search.fit(data)
    return search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=ML_SMALL,
        help="MovieLens folder with ratings.csv [default: $MOVIEREC_SHARED_DATA/ml-latest-small]",
    )
    parser.add_argument("--quick", action="store_true", help="16 combinations, not 144")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="processes for both [default: 2]")
    args = parser.parse_args()

    ratings = read_ratings(args.source)
    grid = QUICK_GRID if args.quick else DEFAULT_GRID
    n = len(combinations(grid))
    print(f"{n} combinations x {args.folds} folds on {len(ratings):,} ratings, {args.jobs} jobs")

    started = time.perf_counter()
    ours = grid_search(ratings, grid, n_folds=args.folds, seed=args.seed, n_jobs=args.jobs)
    ours_seconds = time.perf_counter() - started
    print(f"movierec grid search:    {ours_seconds:8.1f} s")

    started = time.perf_counter()
    theirs = run_surprise(ratings, grid, args.folds, args.seed, args.jobs)
    theirs_seconds = time.perf_counter() - started
    print(f"Surprise GridSearchCV:   {theirs_seconds:8.1f} s")
    print(f"speed-up:                {theirs_seconds / ours_seconds:8.1f} x")

    cv = theirs.cv_results
    differences = {
        measure: float(np.max(np.abs(ours.results[f"mean_{measure}"] - cv[f"mean_test_{measure}"])))
        for measure in ("rmse", "mae")
    }
    their_best = {k: v for k, v in theirs.best_params["rmse"].items() if k != "random_state"}
    print(f"winner (movierec):       {ours.best_params}  RMSE {ours.best['mean_rmse']:.6f}")
    print(f"winner (GridSearchCV):   {their_best}  RMSE {theirs.best_score['rmse']:.6f}")
    print(
        "largest difference over all combinations: "
        f"mean RMSE {differences['rmse']:.2e}, mean MAE {differences['mae']:.2e}"
    )
    agree = their_best == ours.best_params and max(differences.values()) <= 1e-9
    print("winners agree" if agree else "MISMATCH")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
