"""``movierec model evaluate --ranking --cold-movies``: how well new movies are ranked before
anyone has rated them (``recommender.cold_evaluation``), and what placing movies by content
does to the ordinary temporal evaluation. The options live in cli/model.py."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click

from movierec.config import Settings

# Columns of the terminal table: (metric key, header, format).
_TABLE = (
    ("ndcg", "NDCG", "{:.4f}"),
    ("precision", "P", "{:.4f}"),
    ("recall", "R", "{:.4f}"),
    ("hit_rate", "HR", "{:.3f}"),
)


def _data(settings: Settings, source: str | None, metadata: Path | None) -> tuple[Any, Any, str]:
    """Ratings (with timestamps) and every movie's content, from a MovieLens source (movies.csv,
    tags.csv, and ``metadata``) or from the database."""
    from movierec.recommender.content_features import MovieContent
    from movierec.recommender.data import RatingArrays

    if source:
        from movierec.data.download import resolve_source
        from movierec.data.movielens import read_movies, read_ratings

        with tempfile.TemporaryDirectory(prefix="movierec-") as workdir:
            folder = resolve_source(source, Path(workdir), sha256=settings.movielens_sha256)
            ratings = RatingArrays.from_frame(read_ratings(folder))
            content = MovieContent.from_frame(read_movies(folder, metadata))
        return ratings, content, source
    if metadata is not None:
        raise click.UsageError("--metadata goes with --source (the database has its content)")
    from movierec.db import Database
    from movierec.db.repositories.movies import catalogue_content
    from movierec.db.repositories.ratings import ratings_arrays

    database = Database(settings.database_url)
    try:
        with database.engine.connect() as connection:
            ratings = ratings_arrays(connection, with_timestamps=True)
            content, _retired = catalogue_content(connection)
    finally:
        database.dispose()
    if ratings.empty:
        raise click.ClickException(
            "the database holds no ratings: load some (movierec data load) or pass --source"
        )
    return ratings, content, "database"


def evaluate_cold_movies(
    settings: Settings,
    source: str | None,
    metadata: Path | None,
    *,
    fraction: float,
    k: int,
    relevance: float,
    seed: int,
    test_fraction: float,
    out: Path | None,
    as_json: bool,
    progress: bool,
) -> None:
    from tqdm import tqdm

    from movierec.cli.model_ranking import rating_model_trainer
    from movierec.data import DataError
    from movierec.jobs.refresh import content_params, ranker_config, scoring_threads
    from movierec.recommender.cold_evaluation import (
        cold_movie_split,
        evaluate_cold_movies,
        temporal_with_content,
    )
    from movierec.recommender.evaluation import EvaluationError, temporal_split
    from movierec.recommender.ranker_registry import build_ranker
    from movierec.recommender.ranking import RankerError

    threads = scoring_threads(settings)
    min_votes = settings.stat_movie_users_lower_limit
    train_rating_model = rating_model_trainer(settings)
    name, params = ranker_config(settings)
    bar = tqdm(total=7, unit="step", desc="reading", disable=not progress, dynamic_ncols=True)

    def step(what: str, _done: int = 0, _total: int = 0) -> None:
        bar.set_description_str(what)
        bar.update(1)

    try:
        with bar:
            try:
                ratings, content, origin = _data(settings, source, metadata)
            except DataError as error:
                raise click.ClickException(str(error)) from None
            split = cold_movie_split(ratings, content, fraction, seed)

            def make(training: Any):  # type: ignore[no-untyped-def]
                return lambda: build_ranker(
                    name, params, rating_model=lambda: train_rating_model(training),
                    min_votes=min_votes, threads=threads,
                )  # fmt: skip

            warm = content_params(settings)
            evaluation = evaluate_cold_movies(
                split, make(split.train), warm, k=k, relevance=relevance, threads=threads,
                progress=step,
            )  # fmt: skip
            step("temporal split")
            ordinary = temporal_split(ratings, test_fraction)
            without, with_content = temporal_with_content(
                ordinary, content, make(ordinary.train), warm, k=k, relevance=relevance,
                min_votes=min_votes, threads=threads,
            )  # fmt: skip
    except (EvaluationError, RankerError) as error:
        raise click.ClickException(str(error)) from None
    document = evaluation.as_dict()
    document.update(
        source=origin,
        ranker=name,
        ranker_params=params,
        content=warm.as_dict(),
        n_ratings=len(ratings),
        temporal={
            "test_fraction": test_fraction,
            "without_content": without.as_dict(),
            "with_content": with_content.as_dict(),
        },
    )
    written = _write(document, out) if out else {}
    if as_json:
        click.echo(json.dumps(document, indent=2, default=float))
        return
    _print(document)
    for label, path in written.items():
        click.echo(f"{label:>6}: {path}")


def _print(document: dict[str, Any]) -> None:
    k = document["k"]
    click.echo(
        f"cold movies: {document['fraction']:.0%} of the movies with {document['min_ratings']}+ "
        f"ratings turned new ({document['n_new_movies']:,} of {document['catalogue']:,}; seed "
        f"{document['seed']}), their ratings and keywords removed from training; "
        f"{document['n_users']:,} users rated one >= {document['relevance_threshold']:g}; "
        f"ranked by {document['ranker']} with the content model"
    )
    rows = document["results"]
    width = max(len("model"), *(len(row["model"]) for row in rows))
    click.echo(
        f"{'model':<{width}} " + " ".join(f"{h + f'@{k}':>9}" for _, h, _ in _TABLE) + "  ×genre"
    )
    for row in rows:
        cells = " ".join(f"{fmt.format(row[key]):>9}" for key, _, fmt in _TABLE)
        ratio = row["ndcg_vs_genre_affinity"]
        click.echo(f"{row['model']:<{width}} {cells}  {'' if ratio is None else f'{ratio:.2f}'}")
    shares = ", ".join(
        f"{100 * share:.1f}% ({model})" for model, share in document["new_share_of_slots"].items()
    )
    click.echo(
        f"new movies: {100 * document['new_share_of_catalogue']:.1f}% of the catalogue, "
        f"of all top-{k} slots {shares}"
    )
    ordinary = document["temporal"]
    before = ordinary["without_content"]["ndcg_rel"]
    after = ordinary["with_content"]["ndcg_rel"]
    click.echo(
        f"temporal split ({ordinary['test_fraction']:.0%} held out per user), NDCG@{k}: "
        f"without content {before:.4f}, with {after:.4f} ({100 * (after / before - 1):+.1f}%); "
        f"rare movies {100 * ordinary['without_content']['rare_share']:.1f}% -> "
        f"{100 * ordinary['with_content']['rare_share']:.1f}% of slots"
    )


def _write(document: dict[str, Any], out: Path) -> dict[str, Path]:
    from movierec.recommender.plots import plot_cold_movies

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "cold_movies.json", "plot": out / "cold_movies.png"}
    paths["json"].write_text(json.dumps(document, indent=2, default=float) + "\n")
    plot_cold_movies(document, paths["plot"])
    return paths
