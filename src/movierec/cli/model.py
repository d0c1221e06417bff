"""``movierec model``: cross-validate the SVD model and tune it with a grid search.

Registered on the main command with ``main.add_command(model)``. Heavy imports (numba, joblib,
matplotlib) happen inside the commands so ``movierec --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import click

from movierec.cli.support import InvalidSetting, fail_cleanly
from movierec.config import Settings, SettingsError, load_settings


def _settings(creating: str | None = None) -> Settings:
    """The settings; ``creating`` names the parameters file setting (``model_params_file`` or
    ``ranker_params_file``) that `grid-search --apply` is about to create: not there yet is
    fine for it."""
    try:
        return load_settings()
    except SettingsError as error:
        wanted = os.environ.get(creating.upper()) if creating else None
        if creating and wanted and not Path(wanted).exists():
            try:
                return load_settings(**{creating: ""}).model_copy(update={creating: Path(wanted)})
            except SettingsError:
                pass
        raise InvalidSetting(str(error)) from None


def _read_ratings(
    settings: Settings, source: str | None, with_timestamps: bool = False
) -> tuple[Any, str]:
    """The ratings (user_id, movie_id, rating, and ts when asked or from a MovieLens source) in
    a stable order, and where they came from."""
    if source:
        from movierec.data.download import resolve_source
        from movierec.data.movielens import read_ratings

        with tempfile.TemporaryDirectory(prefix="movierec-") as workdir:
            folder = resolve_source(source, Path(workdir), sha256=settings.movielens_sha256)
            return read_ratings(folder), source
    from movierec.db import Database
    from movierec.db.repositories.ratings import ratings_frame

    database = Database(settings.database_url)
    try:
        with database.engine.connect() as connection:
            frame = ratings_frame(connection, with_timestamps=with_timestamps)
    finally:
        database.dispose()
    if frame.empty:
        raise click.ClickException(
            "the database holds no ratings: load some (movierec data load) or pass --source"
        )
    return frame, "database"


def _check_size(ratings: Any, folds: int) -> None:
    if len(ratings) < max(folds, 2) * 2:
        raise click.ClickException(
            f"{len(ratings)} ratings are too few for {folds}-fold cross-validation"
        )


def _params(settings: Settings, **given: Any) -> dict[str, Any]:
    configured = {
        "n_factors": settings.model_n_factors,
        "n_epochs": settings.model_n_epochs,
        "lr_all": settings.model_lr_all,
        "reg_all": settings.model_reg_all,
    }
    return {name: given[name] if given.get(name) is not None else value
            for name, value in configured.items()}  # fmt: skip


source_option = click.option(
    "--source", help="MovieLens folder, zip or URL of a zip. [default: the database's ratings]"
)
folds_option = click.option(
    "--folds", default=3, show_default=True, type=click.IntRange(2, 100), help="Number of folds."
)
seed_option = click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, 2**32 - 1),
    help="Seeds the folds and SVD's initial factors (reproducible results).",
)


ranking_option = click.option(
    "--ranking",
    is_flag=True,
    help="Evaluate (or tune) the ranking of the served lists instead of the SVD's RMSE: "
    "NDCG@k and friends on a per-user hold-out, next to the popularity baseline.",
)
k_option = click.option(
    "--k", default=10, show_default=True, type=click.IntRange(1, 1000), help="List length."
)
split_option = click.option(
    "--split",
    type=click.Choice(["temporal", "random"]),
    default="temporal",
    show_default=True,
    help="Hold out each user's latest ratings, or random ones.",
)
relevance_option = click.option(
    "--relevance",
    default=4.0,
    show_default=True,
    type=click.FloatRange(0, 5),
    help="A held-out movie is relevant when rated at least this.",
)


@click.group()
def model() -> None:
    """Model selection: the SVD's cross-validation and grid search (RMSE), and the ranking
    evaluation and grid search of the ranking model (NDCG)."""


@model.command()
@source_option
@folds_option
@seed_option
@click.option("--n-factors", type=click.IntRange(min=1), help="[default: MODEL_N_FACTORS]")
@click.option("--n-epochs", type=click.IntRange(min=1), help="[default: MODEL_N_EPOCHS]")
@click.option(
    "--lr-all", type=click.FloatRange(min=0, min_open=True), help="[default: MODEL_LR_ALL]"
)
@click.option("--reg-all", type=click.FloatRange(min=0), help="[default: MODEL_REG_ALL]")
@click.option("--jobs", type=click.IntRange(min=1), help="Local processes. [default: all cores]")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@ranking_option
@click.option(
    "--rankers",
    help="With --ranking: comma-separated rankers to evaluate with their configured "
    "parameters (sequential, puresvd, als, ease, svd, popular). [default: RANKER]",
)
@k_option
@split_option
@click.option(
    "--test-fraction",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="With --ranking: the share of each user's ratings held out.",
)
@relevance_option
@click.option(
    "--cold-movies",
    is_flag=True,
    help="With --ranking: how well new movies are ranked before anyone rated them (a share of "
    "the movies with 10+ ratings turned new: their ratings and keywords removed from training), "
    "the content model against random, genre affinity and content neighbours, and what the "
    "content model does to the temporal split's NDCG.",
)
@click.option(
    "--fraction",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="With --cold-movies: the share of the movies with 10+ ratings turned new.",
)
@click.option(
    "--metadata",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --cold-movies and --source: a TMDB-style metadata CSV for the movies' content "
    "(as `movierec data load --metadata`).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --ranking: also write ranking_evaluation.json and ranking_evaluation.png here "
    "(with --cold-movies: cold_movies.json and cold_movies.png).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar (of every fold's epochs; with --ranking, of the scoring) on stderr; "
    "without it, a line per fold. [default: when stderr is a terminal]",
)
@fail_cleanly
def evaluate(
    source: str | None,
    folds: int,
    seed: int,
    n_factors: int | None,
    n_epochs: int | None,
    lr_all: float | None,
    reg_all: float | None,
    jobs: int | None,
    as_json: bool,
    ranking: bool,
    rankers: str | None,
    k: int,
    split: str,
    test_fraction: float,
    relevance: float,
    cold_movies: bool,
    fraction: float,
    metadata: Path | None,
    out: Path | None,
    progress: bool | None,
) -> None:
    """k-fold cross-validation of SVD with the configured (or given) parameters: RMSE and MAE
    per fold and mean ± std, fit and test times. With --ranking: how well the lists rank; with
    --ranking --cold-movies: how well new movies are ranked before anyone rated them."""
    from tqdm import tqdm

    from movierec.recommender.model_selection import SelectionError, default_jobs, grid_search

    settings = _settings()
    if (cold_movies or metadata) and not ranking:
        raise click.UsageError("--cold-movies and --metadata go with --ranking")
    if metadata and not cold_movies:
        raise click.UsageError("--metadata goes with --cold-movies")
    if cold_movies:
        from movierec.cli.model_cold import evaluate_cold_movies

        evaluate_cold_movies(
            settings, source, metadata, fraction=fraction, k=k, relevance=relevance, seed=seed,
            test_fraction=test_fraction, out=out, as_json=as_json,
            progress=sys.stderr.isatty() if progress is None else progress,
        )  # fmt: skip
        return
    if ranking:
        from movierec.cli.model_ranking import evaluate_ranking

        names = [name.strip() for name in (rankers or settings.ranker).split(",") if name.strip()]
        # With times on either split: time-aware rankers learn from the order of the ratings.
        ratings, origin = _read_ratings(settings, source, with_timestamps=True)
        evaluate_ranking(
            settings, ratings, origin, rankers=names, k=k, split=split,
            test_fraction=test_fraction, relevance=relevance, seed=seed, out=out,
            as_json=as_json, progress=sys.stderr.isatty() if progress is None else progress,
        )  # fmt: skip
        return
    params = _params(settings, n_factors=n_factors, n_epochs=n_epochs, lr_all=lr_all,
                     reg_all=reg_all)  # fmt: skip
    ratings, origin = _read_ratings(settings, source)
    _check_size(ratings, folds)
    # What it is doing, on stderr in any case (a few lines: fine in a log; a bad source stays
    # a one-line error); stdout keeps only the results.
    described = ", ".join(f"{name}={value:g}" for name, value in params.items())
    parallel = min(jobs or default_jobs(), folds)
    click.echo(
        f"cross-validating SVD({described}): {folds} folds of {len(ratings):,} ratings from "
        f"{origin}, {params['n_epochs']} epochs each, {parallel} at a time",
        err=True,
    )
    # A fold takes seconds to minutes: on a terminal (or asked) a bar that moves with every
    # epoch of every fold; otherwise a line per fold (tqdm's None is "only on a terminal").
    bar = tqdm(
        total=folds * params["n_epochs"],
        unit="epoch",
        desc="cross-validation",
        disable=None if progress is None else not progress,
        dynamic_ncols=True,
    )
    started, done, lock = time.perf_counter(), [0], threading.Lock()

    def epoch_done() -> None:
        with lock:  # the folds train on threads
            bar.update()

    def fold_done(_fits: int) -> None:
        done[0] += 1
        if bar.disable:
            seconds = time.perf_counter() - started
            click.echo(f"fold {done[0]}/{folds} done after {seconds:.1f}s", err=True)
        else:
            bar.set_postfix_str(f"folds {done[0]}/{folds}")

    try:
        with bar:
            # cross_validate(), with progress: a grid of this one combination.
            grid = {name: [value] for name, value in params.items()}
            result = grid_search(
                ratings, grid, n_folds=folds, seed=seed, n_jobs=jobs, progress=fold_done,
                epoch_progress=None if bar.disable else epoch_done,
            )  # fmt: skip
    except SelectionError as error:
        raise click.ClickException(str(error)) from None
    per_fold = result.fits.sort_values("fold")
    row = result.best
    if as_json:
        document = {
            "params": params,
            "source": origin,
            "n_ratings": len(ratings),
            "folds": folds,
            "seed": seed,
            "per_fold": per_fold[["fold", "rmse", "mae", "fit_time", "test_time"]].to_dict(
                orient="records"
            ),
            **{
                f"{stat}_{measure}": float(row[f"{stat}_{measure}"])
                for measure in ("rmse", "mae", "fit_time", "test_time")
                for stat in ("mean", "std")
            },
        }
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(f"SVD({described}), {folds}-fold CV (seed {seed}) on {len(ratings):,} ratings "
               f"from {origin}")  # fmt: skip
    click.echo(f"{'':<8}{'RMSE':>8}{'MAE':>8}{'fit s':>9}{'test s':>9}")
    for fold in per_fold.itertuples():
        click.echo(f"fold {fold.fold + 1:<3}{fold.rmse:8.4f}{fold.mae:8.4f}"
                   f"{fold.fit_time:9.2f}{fold.test_time:9.3f}")  # fmt: skip
    click.echo(f"{'mean':<8}{row['mean_rmse']:8.4f}{row['mean_mae']:8.4f}"
               f"{row['mean_fit_time']:9.2f}{row['mean_test_time']:9.3f}")  # fmt: skip
    click.echo(f"{'std':<8}{row['std_rmse']:8.4f}{row['std_mae']:8.4f}"
               f"{row['std_fit_time']:9.2f}{row['std_test_time']:9.3f}")  # fmt: skip


@model.command("grid-search")
@source_option
@click.option(
    "--grid",
    "grid_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML or JSON grid (parameter = [values]); unlisted parameters keep their configured "
    "value. [default: the original 144-combination grid]",
)
@folds_option
@seed_option
@click.option("--jobs", type=click.IntRange(min=1), help="Parallel fits. [default: all cores]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/grid-search"),
    show_default=True,
    help="Folder for results.csv/.json, rmse_heatmap.png and best_params.json.",
)
@click.option(
    "--dask",
    "dask_address",
    help="Run the fits on this Dask scheduler (e.g. tcp://host:8786). "
    "[default: DASK_SCHEDULER_ADDRESS, else local processes]",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Also write the winner to MODEL_PARAMS_FILE (default DATA_DIR/model-params.json), "
    "which production training reads.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@ranking_option
@click.option(
    "--ranker",
    type=click.Choice(["sequential", "puresvd", "als", "ease"]),
    help="With --ranking: the ranker whose parameters to search. [default: RANKER]",
)
@k_option
@split_option
@relevance_option
@fail_cleanly
def grid_search(
    source: str | None,
    grid_file: Path | None,
    folds: int,
    seed: int,
    jobs: int | None,
    out: Path,
    dask_address: str | None,
    apply: bool,
    progress: bool,
    ranking: bool,
    ranker: str | None,
    k: int,
    split: str,
    relevance: float,
) -> None:
    """Cross-validate every combination of a parameter grid and pick the best mean RMSE.
    With --ranking: search the ranker's grid by NDCG@k on the validation split; --apply then
    writes RANKER_PARAMS_FILE (default DATA_DIR/ranker-params.json)."""
    if ranking:
        from movierec.cli.model_ranking import ranking_grid_search

        settings = _settings("ranker_params_file" if apply else None)
        name = ranker or settings.ranker
        if name not in ("sequential", "puresvd", "als", "ease"):
            raise click.ClickException(f"the {name} ranker has no parameters to search")
        # With times on either split: time-aware rankers learn from the order of the ratings.
        ratings, origin = _read_ratings(settings, source, with_timestamps=True)
        ranking_grid_search(
            settings, ratings, origin, ranker=name, grid_file=grid_file, k=k, split=split,
            relevance=relevance, seed=seed, out=out, apply=apply, progress=progress,
        )  # fmt: skip
        return
    from tqdm import tqdm

    from movierec.recommender.model_selection import (
        DEFAULT_GRID,
        GridError,
        SelectionError,
        combinations,
        grid_search,
        write_outputs,
    )
    from movierec.recommender.params import DEFAULT_FILE_NAME, write_params_file

    settings = _settings("model_params_file" if apply else None)
    try:
        grid = DEFAULT_GRID
        if grid_file is not None:
            from movierec.recommender.model_selection import load_grid

            grid = load_grid(grid_file, base=_params(settings))
    except GridError as error:
        raise click.ClickException(str(error)) from None
    address = dask_address or settings.dask_scheduler_address
    ratings, origin = _read_ratings(settings, source)
    _check_size(ratings, folds)
    n_combinations = len(combinations(grid))
    where = f"Dask at {address}" if address else f"{jobs or 'all'} local process(es)"
    click.echo(f"{n_combinations} combinations × {folds} folds on {len(ratings):,} ratings "
               f"from {origin}, on {where}", err=True)  # fmt: skip
    bar = tqdm(
        total=n_combinations * folds,
        unit="fit",
        desc="grid search",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        with bar:
            result = grid_search(
                ratings,
                grid,
                n_folds=folds,
                seed=seed,
                n_jobs=jobs,
                dask_address=address,
                progress=bar.update,
                meta={"source": origin},
            )
    except (GridError, SelectionError) as error:
        raise click.ClickException(str(error)) from None
    paths = write_outputs(result, out)

    top = result.results.sort_values(["mean_rmse"], kind="stable").head(5)
    click.echo(f"done in {result.seconds:.1f}s; top {len(top)} by mean RMSE:")
    click.echo(f"{'n_factors':>9} {'n_epochs':>8} {'lr_all':>7} {'reg_all':>7} "
               f"{'RMSE':>15} {'MAE':>15}")  # fmt: skip
    for row in top.itertuples():
        click.echo(f"{row.n_factors:9d} {row.n_epochs:8d} {row.lr_all:7g} {row.reg_all:7g} "
                   f"{row.mean_rmse:7.4f} ± {row.std_rmse:.4f} "
                   f"{row.mean_mae:7.4f} ± {row.std_mae:.4f}")  # fmt: skip
    best = result.best_params
    click.echo("best: " + ", ".join(f"{name}={value:g}" for name, value in best.items()))
    for label, path in paths.items():
        click.echo(f"{label:>6}: {path}")
    if apply:
        target = settings.model_params_file or settings.data_dir / DEFAULT_FILE_NAME
        write_params_file(target, {**best, "random_state": seed}, result.selection_summary())
        click.echo(f"applied: production training reads {target} "
                   "(explicit MODEL_* variables still win)")  # fmt: skip
