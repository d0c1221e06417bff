"""The ranking side of ``movierec model``: ``evaluate --ranking`` and ``grid-search --ranking``.

How well the served lists rank (NDCG@k and friends on a per-user hold-out, next to the
popularity baseline) and the grid search of the ranker's parameters by NDCG on the validation
split. The commands' options live in cli/model.py; this module does the work and the output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from movierec.config import Settings

# Columns of the terminal table: (metric key, header, format).
_TABLE = (
    ("ndcg_rel", "NDCG", "{:.4f}"),
    ("precision_rel", "P", "{:.4f}"),
    ("recall_rel", "R", "{:.4f}"),
    ("map_rel", "MAP", "{:.4f}"),
    ("hit_rate_rel", "HR", "{:.3f}"),
    ("ndcg_any", "NDCG any", "{:.4f}"),
    ("distinct_movies", "distinct", "{:d}"),
    ("coverage", "cover", "{:.1%}"),
    ("rare_share", "rare", "{:.1%}"),
    ("mean_popularity", "pop", "{:.0f}"),
    ("fit_seconds", "fit s", "{:.1f}"),
)


class _ScoringBar:
    """One tqdm bar per model's scoring pass (the long part), on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, what: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if not self.enabled:
            return
        if self.bar is None or self.bar.total != total or done < self.bar.n:
            self.close()
            self.bar = tqdm(total=total, unit="users", desc=what, leave=False, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _arrays(ratings: Any) -> Any:
    from movierec.recommender.data import RatingArrays

    return RatingArrays.from_frame(ratings)


def rating_model_trainer(settings: Settings):  # type: ignore[no-untyped-def]
    """Trains the rating model (the SVD with the MODEL_* parameters) on a training split: the
    ``svd`` ranker ranks with it."""
    from movierec.jobs.refresh import svd_params
    from movierec.recommender.training import train_svd

    trained: dict[int, Any] = {}  # one training per split, however many rankers use it

    def train(ratings: Any):  # type: ignore[no-untyped-def]
        if id(ratings) not in trained:
            trained[id(ratings)] = (
                ratings,
                train_svd(ratings.to_frame(), svd_params(settings)).model,
            )
        return trained[id(ratings)][1]

    return train


def evaluate_ranking(
    settings: Settings,
    ratings: Any,
    origin: str,
    *,
    rankers: Sequence[str],
    k: int,
    split: str,
    test_fraction: float,
    relevance: float,
    seed: int,
    out: Path | None,
    as_json: bool,
    progress: bool,
) -> None:
    from movierec.jobs.refresh import ranker_config, scoring_threads
    from movierec.recommender.evaluation import (
        EvaluationContext,
        EvaluationError,
        evaluate_rankers,
        make_split,
    )
    from movierec.recommender.ranker_registry import build_ranker
    from movierec.recommender.ranking import RankerError

    threads = scoring_threads(settings)
    min_votes = settings.stat_movie_users_lower_limit
    train_rating_model = rating_model_trainer(settings)
    try:
        arrays = _arrays(ratings)
        chosen = make_split(arrays, split, test_fraction, seed)
        context = EvaluationContext.build(chosen, min_votes)
        makers = {}
        for name in rankers:
            _, params = ranker_config(settings, name)

            def make(name=name, params=params):  # type: ignore[no-untyped-def]
                return build_ranker(
                    name,
                    params,
                    rating_model=lambda: train_rating_model(chosen.train),
                    min_votes=min_votes,
                    threads=threads,
                )

            makers[name] = make
        bar = _ScoringBar(progress)
        click.echo(
            f"{split} split ({test_fraction:.0%} held out per user) of {len(arrays):,} ratings "
            f"from {origin}: {len(chosen.train):,} train, {len(chosen.test):,} test, "
            f"{len(context.test_user_ids):,} users; @{k}, relevant = rated >= {relevance:g}",
            err=True,
        )
        try:
            results = evaluate_rankers(makers, context, k, relevance, threads=threads, progress=bar)
        finally:
            bar.close()
    except (EvaluationError, RankerError) as error:
        raise click.ClickException(str(error)) from None
    rows = [result.as_dict() for result in results]
    base = rows[0]["ndcg_rel"]
    for row in rows:
        row["ndcg_vs_popular"] = row["ndcg_rel"] / base if base else None
    document = {
        "source": origin,
        "split": split,
        "test_fraction": test_fraction,
        "k": k,
        "relevance_threshold": relevance,
        "seed": seed,
        "n_ratings": len(arrays),
        "n_users": len(context.test_user_ids),
        "catalogue": context.catalogue_size,
        "results": rows,
    }
    written = _write_evaluation(document, out) if out else {}
    if origin == "database":
        _record_evaluation(settings, document)
    if as_json:
        click.echo(json.dumps(document, indent=2, default=float))
    else:
        _print_table(rows, k)
        for label, path in written.items():
            click.echo(f"{label:>6}: {path}")


def _record_evaluation(settings: Settings, document: dict[str, Any]) -> None:
    """Keep an evaluation of the database's ratings: operators see the latest figures in
    ``GET /api/v1/admin/status`` and on the operator page."""
    from datetime import UTC, datetime

    from movierec.db import Database
    from movierec.db.repositories.evaluations import record_evaluation

    plain = json.loads(json.dumps(document, default=float))  # numpy numbers as JSON numbers
    database = Database(settings.database_url)
    try:
        with database.session() as session:
            record_evaluation(session, plain, datetime.now(UTC))
    finally:
        database.dispose()
    click.echo("recorded: the operator page and /api/v1/admin/status show it", err=True)


def _print_table(rows: Sequence[dict[str, Any]], k: int) -> None:
    width = max(len("model"), *(len(row["model"]) for row in rows))
    header = f"{'model':<{width}} " + " ".join(f"{h:>9}" for _, h, _ in _TABLE) + "  ×popular"
    click.echo(f"metrics @{k}; NDCG, P, R, MAP, HR: held-out movies rated >= the threshold")
    click.echo(header)
    for row in rows:
        cells = " ".join(f"{fmt.format(row[key]):>9}" for key, _, fmt in _TABLE)
        ratio = row["ndcg_vs_popular"]
        click.echo(f"{row['model']:<{width}} {cells}  {'' if ratio is None else f'{ratio:.2f}'}")


def _write_evaluation(document: dict[str, Any], out: Path) -> dict[str, Path]:
    from movierec.recommender.plots import plot_ranking_evaluation

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "ranking_evaluation.json", "plot": out / "ranking_evaluation.png"}
    paths["json"].write_text(json.dumps(document, indent=2, default=float) + "\n")
    title = (
        f"{document['split']} split of {document['source']}, @{document['k']}, "
        f"{document['n_users']:,} users"
    )
    plot_ranking_evaluation(document["results"], document["k"], title, paths["plot"])
    return paths


def ranking_grid_search(
    settings: Settings,
    ratings: Any,
    origin: str,
    *,
    ranker: str,
    grid_file: Path | None,
    k: int,
    split: str,
    relevance: float,
    seed: int,
    out: Path,
    apply: bool,
    progress: bool,
) -> None:
    from tqdm import tqdm

    from movierec.jobs.refresh import ranker_config, scoring_threads
    from movierec.recommender.evaluation import EvaluationError
    from movierec.recommender.params import (
        RANKER_FILE_NAME,
        ranker_settings_of,
        write_ranker_file,
    )
    from movierec.recommender.ranking import RankerError
    from movierec.recommender.ranking_selection import (
        DEFAULT_RANKING_GRIDS,
        load_ranking_grid,
        ranking_combinations,
        ranking_grid_search,
        write_ranking_outputs,
    )

    try:
        grid = load_ranking_grid(grid_file) if grid_file else DEFAULT_RANKING_GRIDS.get(ranker)
        if not grid:
            raise RankerError(f"{ranker} has no parameters to search: give --grid")
        _, configured = ranker_config(settings, ranker)
        n_combinations = len(ranking_combinations(grid))
        click.echo(
            f"{ranker}: {n_combinations} combinations on the validation part of a {split} split "
            f"of {len(ratings):,} ratings from {origin}, by NDCG@{k}",
            err=True,
        )
        bar = tqdm(
            total=n_combinations, unit="combination", desc="grid search", disable=not progress
        )
        with bar:
            result = ranking_grid_search(
                _arrays(ratings),
                ranker,
                grid,
                k=k,
                split=split,
                relevance_threshold=relevance,
                min_votes=settings.stat_movie_users_lower_limit,
                seed=seed,
                threads=scoring_threads(settings),
                fixed=configured,
                rating_model=rating_model_trainer(settings),
                on_combination=bar.update,
            )
    except (EvaluationError, RankerError) as error:
        raise click.ClickException(str(error)) from None
    paths = write_ranking_outputs(result, out)
    table = result.results.sort_values("ndcg_rel", ascending=False, kind="stable").head(8)
    names = list(grid)
    click.echo(f"done in {result.seconds:.1f}s; best {len(table)} by validation NDCG@{k}:")
    click.echo(" ".join(f"{name:>14}" for name in names) + f"{'NDCG':>9}{'cover':>8}")
    for _, row in table.iterrows():
        cells = " ".join(f"{str(row[name]):>14}" for name in names)
        click.echo(f"{cells}{row['ndcg_rel']:9.4f}{row['coverage']:8.1%}")
    baseline, winner = result.test[0].metrics, result.test[-1].metrics
    click.echo(
        "best: " + ", ".join(f"{name}={value}" for name, value in result.best_params.items())
    )
    click.echo(
        f"on the test split: NDCG@{k} {winner['ndcg_rel']:.4f} "
        f"(popular {baseline['ndcg_rel']:.4f}), coverage {winner['coverage']:.1%}"
    )
    for label, path in paths.items():
        click.echo(f"{label:>6}: {path}")
    if apply:
        target = settings.ranker_params_file or settings.data_dir / RANKER_FILE_NAME
        write_ranker_file(
            target, ranker_settings_of(ranker, result.best_params), result.selection_summary()
        )
        click.echo(
            f"applied: production ranking reads {target} (explicit RANKER/PURESVD_*/ALS_*/EASE_* "
            "variables still win)"
        )
