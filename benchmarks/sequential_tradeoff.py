"""How much of the order of ratings the lists can use: the sequential ranker's transition
weight swept from none (PureSVD and the item-to-item part alone) to transitions first, on both
splits of every data variant of ``benchmarks/ranking.py``, through the product's own
evaluation, against PureSVD measured in the same run.

The temporal split (each user's latest 20% held out) asks "what will they rate next"; the
random split (a random 20%) asks "which of the movies they rated did we miss", wherever in
their history those were. Only the first can reward the order of ratings: every weight that
moves the temporal split up should be expected to cost the random split something, and this
prints how much, variant by variant, so a default is chosen knowing both. Parameters other
than the weight are the configured ones (SEQUENTIAL_*), chosen on validation splits, so the
test splits here only measure.

    python benchmarks/sequential_tradeoff.py [--weights 0,0.25,0.5,0.75,1,1.5]
                                             [--source DIR] [--out out/sequential-tradeoff]

Prints one row per (variant, split, ranker) and writes a JSON of them and a plot: temporal
NDCG@10 against random NDCG@10, both as a multiple of PureSVD's, one line per variant through
the weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ranking import variants
from shared_data import ML_SMALL
from tqdm import tqdm

from movierec.cli.model_ranking import rating_model_trainer
from movierec.config import load_settings
from movierec.data.movielens import read_ratings
from movierec.jobs.refresh import ranker_config, scoring_threads
from movierec.recommender.data import RatingArrays
from movierec.recommender.evaluation import EvaluationContext, evaluate_rankers, make_split
from movierec.recommender.plots import plot_blend_tradeoff
from movierec.recommender.ranker_registry import build_ranker

REPO = Path(__file__).resolve().parents[1]


def weights_argument(text: str) -> list[float]:
    try:
        weights = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not weights or weights[0] < 0:
        raise argparse.ArgumentTypeError("weights must be numbers >= 0")
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ML_SMALL)
    parser.add_argument("--weights", type=weights_argument, default="0,0.25,0.5,0.75,1,1.5")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "out/sequential-tradeoff")
    args = parser.parse_args()
    if not (args.source / "ratings.csv").is_file():
        raise SystemExit(f"no ratings.csv in {args.source} (--source or MOVIEREC_SHARED_DATA)")
    settings = load_settings()
    ratings = RatingArrays.from_frame(read_ratings(args.source))
    threads = scoring_threads(settings)
    rating_model = rating_model_trainer(settings)
    params = ranker_config(settings, "sequential")[1]

    def maker(weight: float | None, train: RatingArrays):  # type: ignore[no-untyped-def]
        # None: PureSVD, the reference; a weight: the sequential ranker with that weight.
        name, given = ("puresvd", ranker_config(settings, "puresvd")[1]) if weight is None else (
            "sequential", params | {"transition_weight": weight})  # fmt: skip
        return lambda: build_ranker(
            name, given, min_votes=settings.stat_movie_users_lower_limit,
            rating_model=lambda: rating_model(train), threads=threads,
        )  # fmt: skip

    weights: list[float | None] = [None, *args.weights]
    rows = []
    jobs = [(label, subset, split) for label, subset in variants(ratings).items()
            for split in ("temporal", "random")]  # fmt: skip
    for label, subset, split in tqdm(jobs, desc="variants x splits", unit="split", leave=False):
        context = EvaluationContext.build(
            make_split(subset, split), settings.stat_movie_users_lower_limit,
            len(np.unique(subset.movie_ids)),
        )  # fmt: skip
        makers = {
            "puresvd" if w is None else f"w={w:g}": maker(w, context.split.train) for w in weights
        }
        results = evaluate_rankers(makers, context, args.k, 4.0, threads=threads)
        popular, puresvd = (results[0].metrics["ndcg_rel"], results[1].metrics["ndcg_rel"])
        for weight, result in zip(weights, results[1:], strict=True):
            m = result.metrics
            rows.append({
                "data": label, "split": split, "weight": weight, "ndcg": m["ndcg_rel"],
                "x_popular": m["ndcg_rel"] / popular, "x_puresvd": m["ndcg_rel"] / puresvd,
                "coverage": m["coverage"], "rare_share": m["rare_share"],
            })  # fmt: skip
    print(f"{'data':<12} {'split':<9} {'ranker':>11} {'NDCG@' + str(args.k):>8} {'×pop':>6} "
          f"{'×PureSVD':>8} {'cover':>6} {'rare':>6}")  # fmt: skip
    for row in rows:
        ranker = "puresvd" if row["weight"] is None else f"w={row['weight']:g}"
        print(f"{row['data']:<12} {row['split']:<9} {ranker:>11} {row['ndcg']:8.4f} "
              f"{row['x_popular']:6.2f} {row['x_puresvd']:8.3f} {row['coverage']:6.1%} "
              f"{row['rare_share']:6.1%}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sequential_tradeoff.json").write_text(json.dumps(rows, indent=2))
    plot = plot_blend_tradeoff(rows, args.k, args.out / "sequential_tradeoff.png")
    print(f"\nwritten: {args.out / 'sequential_tradeoff.json'}, {plot}")


if __name__ == "__main__":
    main()
