"""Tuning a ranking model: a grid of its parameters, each combination scored by NDCG@k on the
validation split (carved out of the training part, so the test set stays unseen), and the
winner measured once on the test split next to the popularity baseline."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from movierec.recommender.data import RatingArrays
from movierec.recommender.evaluation import (
    EvaluationContext,
    Progress,
    RankerResult,
    evaluate_ranker,
    evaluate_rankers,
    make_split,
    validation_split,
)
from movierec.recommender.ranker_registry import build_ranker, ranker_params
from movierec.recommender.ranking import Ranker, RankerError

# The default grid of each ranker: wide enough to find the region that suits a data set.
DEFAULT_RANKING_GRIDS: dict[str, dict[str, list[Any]]] = {
    "puresvd": {"n_factors": [16, 32, 64, 128], "weighting": ["rating", "binary"]},
    "als": {"n_factors": [32, 64, 128], "regularization": [0.05, 1.0, 10.0], "alpha": [1.0, 5.0]},
    "ease": {"regularization": [50.0, 250.0, 1000.0]},
    # The PureSVD part keeps its own tuned settings; the grid is the other two parts'.
    "sequential": {
        "window": [10, 20, 40],
        "recent_decay": [0.8, 0.9],
        "transition_weight": [0.5, 0.75, 1.0],
        "taste_weight": [0.0, 1.0, 2.0],
    },
}
SELECTION_METRIC = "ndcg_rel"


def ranking_combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())]


@dataclass
class RankingSearchResult:
    ranker: str
    k: int
    split: str
    results: pd.DataFrame  # one row per combination: its parameters and validation metrics
    best_params: dict[str, Any]
    test: list[RankerResult]  # the popularity baseline and the winner, on the test split
    seconds: float

    def selection_summary(self) -> dict[str, Any]:
        best = self.results.loc[self.results[SELECTION_METRIC].idxmax()]
        winner = self.test[-1].metrics
        baseline = self.test[0].metrics
        return {
            "metric": f"NDCG@{self.k} (rated >= threshold), validation split",
            "validation": float(best[SELECTION_METRIC]),
            "test": float(winner[SELECTION_METRIC]),
            "test_popular": float(baseline[SELECTION_METRIC]),
            "split": self.split,
            "combinations": len(self.results),
            "seconds": round(self.seconds, 3),
        }


def ranking_grid_search(
    ratings: RatingArrays,
    ranker: str,
    grid: Mapping[str, Sequence[Any]],
    *,
    k: int = 10,
    split: str = "temporal",
    relevance_threshold: float = 4.0,
    min_votes: int = 5,
    seed: int = 0,
    threads: int = 1,
    fixed: Mapping[str, Any] | None = None,
    rating_model: Callable[[RatingArrays], Any] | None = None,
    progress: Progress | None = None,
    on_combination: Callable[[], None] | None = None,
) -> RankingSearchResult:
    """Score every combination of ``grid`` (other parameters from ``fixed``) on the validation
    split and measure the best on the test split. Raises ``RankerError`` for a bad grid."""
    started = time.perf_counter()
    combinations = ranking_combinations(grid)
    for combination in combinations:
        ranker_params(ranker, {**(fixed or {}), **combination})  # fail before any work
    test_split = make_split(ratings, split, seed=seed)
    validation = EvaluationContext.build(validation_split(test_split, seed=seed), min_votes)

    def maker(params: Mapping[str, Any], train: RatingArrays) -> Callable[[], Ranker]:
        def make() -> Ranker:
            model = (lambda: rating_model(train)) if rating_model else None
            return build_ranker(ranker, params, rating_model=model, min_votes=min_votes,
                                threads=threads)  # fmt: skip

        return make

    rows = []
    for combination in combinations:
        params = {**(fixed or {}), **combination}
        result = evaluate_ranker(
            ranker,
            maker(params, validation.split.train),
            validation,
            k,
            relevance_threshold,
            threads=threads,
            progress=progress,
        )
        rows.append({**combination, **result.metrics, "fit_seconds": result.fit_seconds})
        if on_combination is not None:
            on_combination()
    results = pd.DataFrame(rows)
    if results.empty:
        raise RankerError("the grid has no combination")
    best = {**(fixed or {}), **combinations[int(results[SELECTION_METRIC].idxmax())]}
    test_context = EvaluationContext.build(test_split, min_votes)
    test = evaluate_rankers(
        {ranker: maker(best, test_split.train)},
        test_context,
        k,
        relevance_threshold,
        threads=threads,
        progress=progress,
    )
    return RankingSearchResult(
        ranker=ranker,
        k=k,
        split=split,
        results=results,
        best_params=ranker_params(ranker, best),
        test=test,
        seconds=time.perf_counter() - started,
    )


def write_ranking_outputs(result: RankingSearchResult, out: Path) -> dict[str, Path]:
    """results.csv / results.json (every combination), best_ranker.json and ndcg.png."""
    from movierec.recommender.plots import plot_ranking_grid

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out / "ranking_results.csv",
        "json": out / "ranking_results.json",
        "best": out / "best_ranker.json",
        "plot": out / "ranking_ndcg.png",
    }
    result.results.to_csv(paths["csv"], index=False)
    paths["json"].write_text(result.results.to_json(orient="records", indent=2) + "\n")
    best = {
        "ranker": result.ranker,
        "params": result.best_params,
        "selection": result.selection_summary(),
        "test": [entry.as_dict() for entry in result.test],
    }
    paths["best"].write_text(json.dumps(best, indent=2, default=str) + "\n")
    plot_ranking_grid(result.results, SELECTION_METRIC, result.k, result.ranker, paths["plot"])
    return paths


def load_ranking_grid(path: Path) -> dict[str, list[Any]]:
    """A ranker grid file: TOML or JSON, ``parameter = [values]`` (a single value is a list of
    one). Values are checked when the search starts (``ranker_params``)."""
    import tomllib

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise RankerError(f"{path}: grid file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise RankerError(f"{path}: unreadable grid ({error})") from None
    if not isinstance(document, dict) or not document:
        raise RankerError(f"{path}: a grid is a table of parameter = [values]")
    grid = {}
    for name, values in document.items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise RankerError(f"{path}: parameter {name!r} has an empty list of values")
        grid[name] = values
    return grid
