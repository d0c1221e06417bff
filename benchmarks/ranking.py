"""Ranking quality of the default ranker against the popularity baseline, on ml-latest-small and
on MovieLens-shaped variants of it, through the product's own evaluation (the same code as
`movierec model evaluate --ranking`).

There is no second MovieLens set of similar size on this machine, so the variants stand in for
"other data sets": each half of the users (odd and even ids: disjoint people), and the ratings
made before 2010 (an older catalogue and older tastes). A default that only suits the full set
would show it here. Targets: temporal NDCG@10 >= 1.4x popular, distinct movies >= 5%
of the catalogue, < 10% of slots on movies with fewer than 5 ratings; random-split NDCG@10 >= 0.27
on the full set.

    python benchmarks/ranking.py [--source ../shared/data/ml-latest-small] [--rankers puresvd,als]
                                 [--out out/ranking-benchmark]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from shared_data import ML_SMALL

from movierec.cli.model_ranking import rating_model_trainer
from movierec.config import load_settings
from movierec.data.movielens import read_ratings
from movierec.jobs.refresh import ranker_config, scoring_threads
from movierec.recommender.data import RatingArrays
from movierec.recommender.evaluation import EvaluationContext, evaluate_rankers, make_split
from movierec.recommender.plots import plot_ranking_evaluation
from movierec.recommender.ranker_registry import build_ranker

REPO = Path(__file__).resolve().parents[1]
BEFORE_2010 = 1262304000  # 2010-01-01T00:00:00Z


def variants(ratings: RatingArrays) -> dict[str, RatingArrays]:
    return {
        "full": ratings,
        "odd users": ratings.take(ratings.user_ids % 2 == 1),
        "even users": ratings.take(ratings.user_ids % 2 == 0),
        "before 2010": ratings.take(ratings.timestamps < BEFORE_2010),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ML_SMALL)
    parser.add_argument("--rankers", help="comma-separated [default: RANKER]")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "out/ranking-benchmark")
    args = parser.parse_args()
    settings = load_settings()
    names = (args.rankers or settings.ranker).split(",")
    ratings = RatingArrays.from_frame(read_ratings(args.source))
    min_votes = settings.stat_movie_users_lower_limit
    threads = scoring_threads(settings)
    rating_model = rating_model_trainer(settings)  # the SVD on each training split, once

    def maker(name: str, train: RatingArrays):  # type: ignore[no-untyped-def]
        params = ranker_config(settings, name)[1]
        return lambda: build_ranker(
            name, params, min_votes=min_votes, rating_model=lambda: rating_model(train),
            threads=threads,
        )  # fmt: skip

    rows, failures = [], []
    print(f"{'data':<12} {'split':<9} {'model':<8} {'users':>6} {'NDCG@10':>8} {'×pop':>6} "
          f"{'distinct':>8} {'cover':>6} {'rare':>6} {'fit s':>6}")  # fmt: skip
    for label, subset in variants(ratings).items():
        catalogue = len(np.unique(subset.movie_ids))
        for split in ("temporal", "random"):
            context = EvaluationContext.build(make_split(subset, split), min_votes, catalogue)
            makers = {name: maker(name, context.split.train) for name in names}
            results = evaluate_rankers(makers, context, args.k, 4.0, threads=threads)
            base = results[0].metrics["ndcg_rel"]
            for result in results:
                m = result.metrics
                ratio = m["ndcg_rel"] / base
                print(f"{label:<12} {split:<9} {result.model:<8} {m['users_rel']:6d} "
                      f"{m['ndcg_rel']:8.4f} {ratio:6.2f} {m['distinct_movies']:8d} "
                      f"{m['coverage']:6.1%} {m['rare_share']:6.1%} "
                      f"{result.fit_seconds:6.1f}")  # fmt: skip
                rows.append({"data": label, "split": split, **result.as_dict()})
                if result.model == "popular":
                    continue
                if split == "temporal":
                    checks = [
                        (ratio >= 1.4, f"NDCG {ratio:.2f}x popular < 1.4x"),
                        (m["coverage"] >= 0.05, f"coverage {m['coverage']:.1%} < 5%"),
                        (m["rare_share"] < 0.10, f"rare {m['rare_share']:.1%} >= 10%"),
                    ]
                elif label == "full":
                    checks = [(m["ndcg_rel"] >= 0.27, f"random NDCG {m['ndcg_rel']:.4f} < 0.27")]
                else:
                    checks = []
                where = f"{label}/{split}/{result.model}"
                failures += [f"{where}: {why}" for ok, why in checks if not ok]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranking_benchmark.json").write_text(json.dumps(rows, indent=2, default=float))
    full = [row | {"model": f"{row['model']} ({row['split'][:4]})"} for row in rows
            if row["data"] == "full"]  # fmt: skip
    plot = args.out / "ranking_benchmark.png"
    plot_ranking_evaluation(full, args.k, "ml-latest-small, both splits", plot)
    print(f"\nwritten: {args.out}/ranking_benchmark.json, ranking_benchmark.png")
    print("targets met" if not failures else "TARGETS MISSED:\n  " + "\n  ".join(failures))
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
