"""Similar movies people can trust: how the support shrinkage (``recommender.similarity``) changes
``/movie/<id>/similar``, and why its prior is STAT_MOVIE_USERS_LOWER_LIMIT.

The model is trained the way the refresh trains it (the configured ranker on ml-latest-small,
published and read back as the web tier reads it), then:

1. Before / after (plain cosine, then the shrinkage the service applies): the share of the
   top-10 slots held by movies with fewer than 5 ratings across the 500 most-rated movies
   (target < 5%), whether a franchise's films find each other (Star Wars IV -> V and VI, Toy
   Story -> Toy Story 2: their places in the top 10), and the recall of TMDB collection
   siblings (Harry Potter, Bond, ... from the TMDB sample) in the top 10 of every collection
   movie.
2. The prior, validated on held-out ratings: on validation splits carved like the evaluation's
   temporal test split (never the test set), on the full set and the three variants of
   benchmarks/ranking.py, each user's latest liked training movie (4 stars or more) is the
   seed; its top 10 similar movies are scored by NDCG@10 against the movies the user rated
   afterwards. Printed per prior, relative to the best prior of each variant.

    python benchmarks/similar.py [--source ../shared/data/ml-latest-small]
                                 [--out out/similar-benchmark]
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from shared_data import ML_SMALL, SHARED_DATA

from movierec.config import Settings, load_settings
from movierec.data.movielens import read_movies, read_ratings
from movierec.jobs.refresh import ranker_config, scoring_threads, svd_params
from movierec.recommender.data import InteractionMatrix, RatingArrays
from movierec.recommender.evaluation import temporal_split, validation_split
from movierec.recommender.ranker_registry import build_ranker
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import fit_svd

REPO = Path(__file__).resolve().parents[1]
BEFORE_2010 = 1262304000  # 2010-01-01T00:00:00Z, as benchmarks/ranking.py
RARE = 5  # "fewer than 5 ratings"
MOST_RATED = 500
K = 10
PRIORS = [0, 1, 2, 3, 5, 10, 20, 50, 100]
FRANCHISES = {  # seed -> films of the same franchise it should find
    260: [1196, 1210],  # Star Wars IV -> V (The Empire Strikes Back), VI (Return of the Jedi)
    1: [3114],  # Toy Story -> Toy Story 2
}


def serving_model(ratings: RatingArrays, settings: Settings) -> ServingModel:
    """What the refresh publishes for these ratings, read back as a web worker reads it."""
    rating_model = fit_svd(ratings, svd_params(settings)).model
    interactions = InteractionMatrix.from_ratings(
        ratings, rating_model.user_ids, rating_model.item_ids
    )
    name, params = ranker_config(settings)
    ranker = build_ranker(
        name,
        params,
        rating_model=rating_model,
        rating_regularization=settings.model_reg_all,
        min_votes=settings.stat_movie_users_lower_limit,
        threads=scoring_threads(settings),
    ).fit(interactions)
    blob = ServingModel.of(
        ranker,
        rating_model,
        settings.model_reg_all,
        time.time(),
        item_votes=interactions.item_counts(),
    ).to_bytes()
    return ServingModel.from_bytes(blob)


def similar_lists(model: ServingModel, seeds: np.ndarray, prior: float) -> np.ndarray:
    """The top-K similar movie ids of each seed (rows padded with -1)."""
    lists = np.full((len(seeds), K), -1, dtype=np.int64)
    for row, seed in enumerate(seeds.tolist()):
        ids, _ = model.similar(seed, K, prior)
        lists[row, : len(ids)] = ids
    return lists


def rare_share(model: ServingModel, lists: np.ndarray) -> float:
    votes = model.votes(lists[lists >= 0])
    assert votes is not None
    return float((votes < RARE).mean())


def collections(source: Path, model: ServingModel) -> dict[int, set[int]]:
    """Movie id -> the other movies of its TMDB collection the model knows (TMDB sample)."""
    metadata = SHARED_DATA / "tmdb_movies_metadata_sample.csv"
    if not metadata.is_file():
        return {}
    raw = pd.read_csv(metadata, usecols=["id", "belongs_to_collection"], dtype=str)
    raw = raw.dropna()
    raw["tmdb_id"] = pd.to_numeric(raw["id"], errors="coerce")
    raw["collection"] = [ast.literal_eval(text).get("id") for text in raw["belongs_to_collection"]]
    links = read_movies(source)[["movie_id", "tmdb_id"]].dropna()
    joined = links.merge(raw[["tmdb_id", "collection"]].dropna(), on="tmdb_id")
    joined = joined[model.columns(joined["movie_id"].to_numpy()) >= 0]
    members = joined.groupby("collection")["movie_id"].apply(set)
    return {
        int(movie): members[collection] - {movie}
        for movie, collection in zip(joined["movie_id"], joined["collection"], strict=True)
        if len(members[collection]) > 1
    }


def collection_recall(model: ServingModel, siblings: dict[int, set[int]], prior: float) -> float:
    if not siblings:
        return float("nan")
    seeds = np.array(sorted(siblings), dtype=np.int64)
    lists = similar_lists(model, seeds, prior)
    found = [
        len(siblings[seed] & set(row.tolist())) / min(K, len(siblings[seed]))
        for seed, row in zip(seeds.tolist(), lists, strict=True)
    ]
    return float(np.mean(found))


def franchise_places(model: ServingModel, prior: float) -> dict[int, list[int | None]]:
    """For each franchise seed, the 1-based place of each sibling in its top K (None: absent)."""
    places: dict[int, list[int | None]] = {}
    for seed, wanted in FRANCHISES.items():
        ids = model.similar(seed, K, prior)[0].tolist()
        places[seed] = [ids.index(m) + 1 if m in ids else None for m in wanted]
    return places


def held_out_ndcg(ratings: RatingArrays, settings: Settings) -> dict[float, float]:
    """NDCG@K of each seed's similar list against the user's later movies, per prior, on a
    validation split carved like the temporal test split."""
    split = validation_split(temporal_split(ratings))
    model = serving_model(split.train, settings)
    train = split.train
    order = np.lexsort((train.movie_ids, train.timestamps, train.user_ids))
    liked = order[train.ratings[order] >= 4.0]
    users = train.user_ids[liked]
    latest = np.r_[users[1:] != users[:-1], True]
    seeds = pd.Series(train.movie_ids[liked][latest], index=users[latest])
    later = pd.Series(split.test.movie_ids).groupby(split.test.user_ids).apply(set)
    users_both = seeds.index.intersection(later.index)
    seeds, later = seeds[users_both], later[users_both]
    discount = 1 / np.log2(np.arange(2, K + 2))
    ideal = np.array([discount[: min(K, len(s))].sum() for s in later])
    scores = {}
    for prior in PRIORS:
        lists = similar_lists(model, seeds.to_numpy(), prior)
        pairs = zip(lists.tolist(), later, strict=True)
        hits = np.array([[m in wanted for m in row] for row, wanted in pairs])
        scores[prior] = float(((hits * discount).sum(axis=1) / ideal).mean())
    return scores


def variants(ratings: RatingArrays) -> dict[str, RatingArrays]:
    return {
        "full": ratings,
        "odd users": ratings.take(ratings.user_ids % 2 == 1),
        "even users": ratings.take(ratings.user_ids % 2 == 0),
        "before 2010": ratings.take(ratings.timestamps < BEFORE_2010),
    }


def plot(
    sweep: dict[float, dict[str, float]],
    validation: dict[str, dict[float, float]],
    chosen: float,
    path: Path,
) -> None:
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    rare_ax, ndcg_ax = figure.subplots(1, 2)
    x = [max(p, 0.5) for p in PRIORS]  # log axis: the plain cosine drawn at 0.5
    rare_ax.plot(
        x,
        [100 * sweep[p]["rare"] for p in PRIORS],
        "o-",
        label=f"slots on movies with < {RARE} votes ({MOST_RATED} most-rated seeds)",
    )
    rare_ax.plot(
        x,
        [100 * sweep[p]["collection"] for p in PRIORS],
        "s-",
        label="TMDB collection siblings found (collection seeds)",
    )
    rare_ax.axhline(5, color="grey", linestyle=":", label="rare target 5%")
    rare_ax.set(
        xscale="log",
        xlabel="prior votes (0 drawn at 0.5)",
        ylabel="%",
        title=f"top {K} similar movies, ml-latest-small",
    )
    rare_ax.legend(fontsize=8)
    for label, scores in validation.items():
        best = max(scores.values())
        ndcg_ax.plot(x, [scores[p] / best for p in PRIORS], "o-", label=label)
    ndcg_ax.set(
        xscale="log",
        xlabel="prior votes (0 drawn at 0.5)",
        ylabel="NDCG@10 / best prior of the variant",
        title="held-out next movies (temporal validation split)",
    )
    ndcg_ax.legend(fontsize=8)
    for ax in (rare_ax, ndcg_ax):
        ax.axvline(max(chosen, 0.5), color="red", linestyle="--", linewidth=1)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ML_SMALL)
    parser.add_argument("--out", type=Path, default=REPO / "out/similar-benchmark")
    args = parser.parse_args()
    settings = load_settings()
    chosen = settings.stat_movie_users_lower_limit
    ratings = RatingArrays.from_frame(read_ratings(args.source))
    movies = read_movies(args.source).set_index("movie_id")["title"]
    model = serving_model(ratings, settings)
    votes = model.item_votes
    assert votes is not None
    most_rated = model.item_ids[np.argsort(-votes, kind="stable")[:MOST_RATED]]
    siblings = collections(args.source, model)

    sweep: dict[float, dict[str, float]] = {}
    for prior in PRIORS:
        lists = similar_lists(model, most_rated, prior)
        sweep[prior] = {
            "rare": rare_share(model, lists),
            "collection": collection_recall(model, siblings, prior),
        }

    def places(prior: float) -> str:
        found = franchise_places(model, prior)
        return "  ".join(
            f"{movies[seed].split(':')[0][:9]}->" + ",".join(str(p or "-") for p in found[seed])
            for seed in FRANCHISES
        )

    print(
        f"ml-latest-small, ranker {settings.ranker}; top {K} similar movies of the "
        f"{MOST_RATED} most-rated movies\n"
    )
    print(f"{'':<22} {'prior':>5} {f'<{RARE} votes':>9} {'collection':>10}  franchise places")
    for label, prior in (("before (plain cosine)", 0), ("after (shrunk)", chosen)):
        row = sweep[prior]
        print(
            f"{label:<22} {prior:>5} {row['rare']:9.1%} {row['collection']:10.1%}  {places(prior)}"
        )
    for seed in (2571, 1, 260):
        for label, prior in (("before", 0), ("after", chosen)):
            ids, _ = model.similar(seed, 4, prior)
            counts = model.votes(ids)
            assert counts is not None
            pairs = zip(ids.tolist(), counts.tolist(), strict=True)
            names = ", ".join(f"{movies[m][:24]} ({n})" for m, n in pairs)
            print(f"  {movies[seed][:12]:<12} {label:<6} {names}")

    print(f"\nprior sweep, held-out NDCG@{K} (temporal validation split) / best prior per data:")
    validation = {
        label: held_out_ndcg(subset, settings) for label, subset in variants(ratings).items()
    }
    print(
        f"{'prior':>5} {f'<{RARE} votes':>9} {'collection':>10} "
        + " ".join(f"{label:>11}" for label in validation)
        + f" {'worst':>6}"
    )
    for prior in PRIORS:
        relative = [
            validation[label][prior] / max(validation[label].values()) for label in validation
        ]
        mark = "  <- STAT_MOVIE_USERS_LOWER_LIMIT" if prior == chosen else ""
        print(
            f"{prior:>5} {sweep[prior]['rare']:9.1%} {sweep[prior]['collection']:10.1%} "
            + " ".join(f"{r:11.3f}" for r in relative)
            + f" {min(relative):6.3f}"
            + mark
        )

    args.out.mkdir(parents=True, exist_ok=True)
    figure = args.out / "similar.png"
    plot(sweep, validation, chosen, figure)
    (args.out / "similar.json").write_text(
        json.dumps({"sweep": sweep, "validation": validation}, indent=2, default=float)
    )
    print(f"\nwritten: {figure}, {args.out / 'similar.json'}")
    after = sweep[chosen]
    franchise = franchise_places(model, chosen)
    failures = [f"rare share {after['rare']:.1%} >= 5%"] if after["rare"] >= 0.05 else []
    failures += [
        f"{movies[seed]} does not find {movies[m]}"
        for seed, wanted in FRANCHISES.items()
        for m, place in zip(wanted, franchise[seed], strict=True)
        if place is None
    ]
    print("targets met" if not failures else "TARGETS MISSED:\n  " + "\n  ".join(failures))
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
