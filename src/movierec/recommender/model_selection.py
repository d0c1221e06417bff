"""Cross-validation and grid search for the SVD model, over a ratings DataFrame.

Results equal Surprise's ``GridSearchCV(SVD, grid, measures=["rmse", "mae"],
cv=KFold(n_folds, random_state=seed))`` with ``random_state=seed`` for SVD too, on
``Dataset.load_from_df(ratings[["user_id", "movie_id", "rating"]], Reader(rating_scale=(0.5,
5.0)))`` with the rows in the same order: the same folds, the same models (see ``sgd``), the same
predictions and the same arithmetic for the scores. What differs is how much work is done: one
training run per (fold, n_factors, group of lr/reg pairs) serves every ``n_epochs`` of the grid
and up to 16 (lr_all, reg_all) pairs at once.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config

from movierec.recommender.sgd import LaneModels, TrainingSet, build_trainset, inner_ids, warm_up

PARAMETERS = ("n_factors", "n_epochs", "lr_all", "reg_all")
DEFAULT_GRID: dict[str, list[Any]] = {
    "n_factors": [10, 30, 50],
    "n_epochs": [10, 30, 50],
    "lr_all": [0.002, 0.005, 0.008, 0.01],
    "reg_all": [0.2, 0.4, 0.6, 0.8],
}
# Lanes trained together: 16 keeps the vector units busy (measured ~6x less time per model than
# one lane) while still giving a task per (fold, n_factors) to spread over workers.
MAX_LANES = 16
# How long to wait for a Dask scheduler before giving up with an error.
DASK_CONNECT_TIMEOUT = "10s"


class GridError(ValueError):
    """A grid (file) is malformed; the message is one line."""


class SelectionError(ValueError):
    """The data or the options cannot be cross-validated (too few ratings, bad fold count...)."""


# -- grids ----------------------------------------------------------------------------------


def _check_values(name: str, values: Any, where: str) -> list[Any]:
    if not isinstance(values, list):
        values = [values]
    if not values:
        raise GridError(f"{where}parameter {name!r} has an empty list of values")
    checked: list[Any] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise GridError(f"{where}parameter {name!r}: {value!r} is not a number")
        if name in ("n_factors", "n_epochs"):
            if value != int(value) or value < 1:
                raise GridError(f"{where}parameter {name!r}: {value!r} is not a positive integer")
            value = int(value)
        elif not math.isfinite(value) or value < 0 or (name == "lr_all" and value == 0):
            bound = "> 0" if name == "lr_all" else ">= 0"
            raise GridError(f"{where}parameter {name!r}: {value!r} must be {bound}")
        else:
            value = float(value)
        if value in checked:
            raise GridError(f"{where}parameter {name!r}: {value!r} appears twice")
        checked.append(value)
    return checked


def check_grid(
    grid: Mapping[str, Any], base: Mapping[str, Any] | None = None, where: str = ""
) -> dict[str, list[Any]]:
    """A checked grid with every parameter; one missing from ``grid`` takes its ``base`` value
    (the configured one), or the default grid's values without ``base``."""
    if not isinstance(grid, Mapping):
        raise GridError(f"{where}a grid maps parameter names to lists of values")
    unknown = [name for name in grid if name not in PARAMETERS]
    if unknown:
        raise GridError(
            f"{where}unknown parameter {unknown[0]!r} (allowed: {', '.join(PARAMETERS)})"
        )
    checked = {}
    for name in PARAMETERS:
        if name in grid:
            checked[name] = _check_values(name, grid[name], where)
        elif base is not None and name in base:
            checked[name] = _check_values(name, base[name], where)
        else:
            checked[name] = list(DEFAULT_GRID[name])
    return checked


def load_grid(path: Path, base: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
    """Read a grid from a TOML or JSON file: ``n_factors = [10, 30]`` ... at the top level or
    in a ``[grid]`` table."""
    path = Path(path)
    where = f"{path}: "
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise GridError(f"{where}a grid file must end in .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError(f"{where}grid file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GridError(f"{where}cannot read the grid file ({error})") from None
    try:
        document = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise GridError(f"{where}invalid {suffix[1:].upper()} ({error})") from None
    if isinstance(document, dict) and set(document) == {"grid"}:
        document = document["grid"]
    if isinstance(document, dict) and not document:
        raise GridError(f"{where}the grid is empty")
    return check_grid(document, base, where)


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, in GridSearchCV's order (itertools.product over the parameters)."""
    return [
        dict(zip(PARAMETERS, values, strict=True)) for values in itertools.product(*grid.values())
    ]


# -- folds ----------------------------------------------------------------------------------


def kfold_indices(n_ratings: int, n_folds: int, seed: int | None) -> list[tuple[np.ndarray, ...]]:
    """(train rows, test rows) per fold, exactly as ``surprise.model_selection.KFold(n_folds,
    random_state=seed, shuffle=True)`` splits a Dataset of ``n_ratings`` rows."""
    if n_folds < 2 or n_folds > n_ratings:
        raise SelectionError(f"folds must be between 2 and the number of ratings ({n_ratings})")
    indices = np.arange(n_ratings)
    (np.random.mtrand._rand if seed is None else np.random.RandomState(seed)).shuffle(indices)
    splits = []
    start = stop = 0
    for fold in range(n_folds):
        start = stop
        stop += n_ratings // n_folds + (1 if fold < n_ratings % n_folds else 0)
        splits.append((np.concatenate([indices[:start], indices[stop:]]), indices[start:stop]))
    return splits


@dataclass(frozen=True)
class Fold:
    """One split, prepared once and shared by every task that trains on it."""

    number: int
    trainset: TrainingSet
    test_users: np.ndarray  # inner ids, -1 when unknown to the trainset
    test_items: np.ndarray
    test_ratings: np.ndarray


def _frame_arrays(ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = {"user_id", "movie_id", "rating"} - set(ratings.columns)
    if missing:
        raise SelectionError(f"ratings need the column(s) {', '.join(sorted(missing))}")
    return (
        ratings["user_id"].to_numpy(),
        ratings["movie_id"].to_numpy(),
        ratings["rating"].to_numpy(dtype=np.float64),
    )


def make_folds(ratings: pd.DataFrame, n_folds: int = 3, seed: int | None = 0) -> list[Fold]:
    users, movies, values = _frame_arrays(ratings)
    folds = []
    for number, (train, test) in enumerate(kfold_indices(len(values), n_folds, seed)):
        trainset = build_trainset(users[train], movies[train], values[train])
        test_users, test_items = inner_ids(trainset, users[test], movies[test])
        folds.append(Fold(number, trainset, test_users, test_items, values[test].copy()))
    return folds


# -- scoring --------------------------------------------------------------------------------


def score(truth: np.ndarray, estimates: np.ndarray) -> tuple[float, float]:
    """RMSE and MAE as ``surprise.accuracy`` computes them (np.mean over the same sequence)."""
    errors = truth - estimates
    return float(np.sqrt(np.mean(errors**2))), float(np.mean(np.abs(errors)))


@dataclass(frozen=True)
class Task:
    fold: Fold
    n_factors: int
    lanes: tuple[tuple[float, float], ...]  # (lr_all, reg_all) per lane
    epochs: tuple[int, ...]  # ascending checkpoints

    @property
    def cost(self) -> float:
        return self.n_factors * max(self.epochs) * len(self.lanes) * len(self.fold.test_ratings)

    @property
    def n_fits(self) -> int:
        return len(self.lanes) * len(self.epochs)


def run_task(
    task: Task, seed: int | None, on_epoch: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    """Train the task's lanes once, scoring each lane at every epoch checkpoint; ``on_epoch``
    is called after each epoch of training.

    Times are per model and amortised: the shared training time up to a checkpoint (and the
    scoring time at it) divided by the number of lanes.
    """
    warm_up()
    fold = task.fold
    lr, reg = zip(*task.lanes, strict=True)
    started = time.perf_counter()
    scoring = 0.0
    models = LaneModels(fold.trainset, task.n_factors, lr, reg, seed)
    rows = []
    for epochs in models.train_through(task.epochs, on_epoch):
        fit_time = (time.perf_counter() - started - scoring) / len(lr)
        scored = time.perf_counter()
        estimates = models.predict_inner(fold.test_users, fold.test_items)
        scores = [score(fold.test_ratings, lane) for lane in estimates]
        test_time = time.perf_counter() - scored
        scoring += test_time
        for (lr_all, reg_all), (rmse, mae) in zip(task.lanes, scores, strict=True):
            rows.append(
                {
                    "fold": fold.number,
                    "n_factors": task.n_factors,
                    "n_epochs": epochs,
                    "lr_all": lr_all,
                    "reg_all": reg_all,
                    "rmse": rmse,
                    "mae": mae,
                    "fit_time": fit_time,
                    "test_time": test_time / len(lr),
                }
            )
    return rows


def plan_tasks(grid: Mapping[str, Sequence[Any]], folds: Sequence[Fold]) -> list[Task]:
    """The tasks covering the grid on every fold, the most expensive first (so the last ones
    to finish are short and the workers end together)."""
    pairs = list(itertools.product(grid["lr_all"], grid["reg_all"]))
    epochs = tuple(sorted(grid["n_epochs"]))
    tasks = [
        Task(fold, n_factors, tuple(pairs[start : start + MAX_LANES]), epochs)
        for fold in folds
        for n_factors in grid["n_factors"]
        for start in range(0, len(pairs), MAX_LANES)
    ]
    return sorted(tasks, key=lambda task: -task.cost)


# -- the search -----------------------------------------------------------------------------


@dataclass
class SearchResult:
    """The grid search's outcome: one row per combination (``results``) and per fit."""

    grid: dict[str, list[Any]]
    n_folds: int
    seed: int | None
    results: pd.DataFrame  # combination order; params, split scores, mean/std, times, ranks
    fits: pd.DataFrame  # one row per (combination, fold)
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def best_index(self) -> int:
        # np.argmin: the first of equal means wins, as in GridSearchCV.
        return int(np.argmin(self.results["mean_rmse"].to_numpy()))

    @property
    def best(self) -> pd.Series:
        return self.results.iloc[self.best_index]

    @property
    def best_params(self) -> dict[str, Any]:
        row = self.best
        return {
            "n_factors": int(row["n_factors"]),
            "n_epochs": int(row["n_epochs"]),
            "lr_all": float(row["lr_all"]),
            "reg_all": float(row["reg_all"]),
        }

    def selection_summary(self) -> dict[str, Any]:
        row = self.best
        return {
            "rmse_mean": float(row["mean_rmse"]),
            "rmse_std": float(row["std_rmse"]),
            "mae_mean": float(row["mean_mae"]),
            "mae_std": float(row["std_mae"]),
            "folds": self.n_folds,
            "seed": self.seed,
            "combinations": len(self.results),
            "n_ratings": self.meta.get("n_ratings"),
            "source": self.meta.get("source"),
            "seconds": round(self.seconds, 3),
        }


def summarise(fits: pd.DataFrame, grid: Mapping[str, Sequence[Any]], n_folds: int) -> pd.DataFrame:
    """One row per combination with GridSearchCV's statistics (mean and population std over
    the folds of a (combinations, folds) array)."""
    combos = pd.DataFrame(combinations(grid), columns=list(PARAMETERS))
    indexed = fits.set_index([*PARAMETERS, "fold"]).sort_index()
    keys = [(*row, fold) for row in combos.itertuples(index=False) for fold in range(n_folds)]
    table = combos.copy()
    for measure in ("rmse", "mae", "fit_time", "test_time"):
        values = indexed.loc[keys, measure].to_numpy().reshape(len(combos), n_folds)
        if measure in ("rmse", "mae"):
            for fold in range(n_folds):
                table[f"split{fold}_{measure}"] = values[:, fold]
        table[f"mean_{measure}"] = values.mean(axis=1)
        table[f"std_{measure}"] = values.std(axis=1)
    for measure in ("rmse", "mae"):
        order = table[f"mean_{measure}"].to_numpy().argsort()
        rank = np.empty_like(order)
        rank[order] = np.arange(1, len(order) + 1)
        table[f"rank_{measure}"] = rank
    return table


@contextmanager
def _backend(dask_address: str | None) -> Iterator[None]:
    if not dask_address:
        yield
        return
    try:
        from dask.distributed import Client
    except ImportError:
        raise SelectionError(
            "the Dask backend needs dask.distributed: pip install 'movierec[dask]'"
        ) from None
    try:
        client = Client(dask_address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise SelectionError(
            f"cannot reach the Dask scheduler at {dask_address}: {error}"
        ) from None
    with client, parallel_config(backend="dask", client=client):
        yield


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def grid_search(
    ratings: pd.DataFrame,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    n_folds: int = 3,
    seed: int | None = 0,
    n_jobs: int | None = None,
    dask_address: str | None = None,
    progress: Callable[[int], None] | None = None,
    meta: Mapping[str, Any] | None = None,
    epoch_progress: Callable[[], None] | None = None,
) -> SearchResult:
    """Cross-validate every combination of ``grid`` (default: the original 144).

    ``seed`` fixes both the folds and SVD's initial factors. ``n_jobs`` local processes (default:
    all cores), or the workers of the Dask cluster at ``dask_address``. ``progress`` is called
    with the number of (combination, fold) fits each time a task finishes. ``epoch_progress``
    (not with Dask) is called after every epoch of every task: the tasks then run on threads
    of this process (the SGD kernels release the GIL), so the calls reach the caller.
    """
    checked = check_grid(grid if grid is not None else DEFAULT_GRID)
    started = time.perf_counter()
    folds = make_folds(ratings, n_folds, seed)
    tasks = plan_tasks(checked, folds)
    jobs = n_jobs or (-1 if dask_address else default_jobs())
    if dask_address and epoch_progress is not None:
        raise SelectionError("per-epoch progress is not reported from a Dask cluster")
    if jobs == 1 and not dask_address:
        outputs: Iterator[list[dict[str, Any]]] = (
            run_task(task, seed, epoch_progress) for task in tasks
        )
        rows = _collect(outputs, progress)
    elif epoch_progress is not None:
        parallel = Parallel(
            n_jobs=min(jobs, len(tasks)) if jobs > 0 else jobs,
            prefer="threads",
            batch_size=1,
            return_as="generator_unordered",
        )
        calls = (delayed(run_task)(task, seed, epoch_progress) for task in tasks)
        rows = _collect(parallel(calls), progress)
    else:
        with _backend(dask_address):
            parallel = Parallel(
                n_jobs=min(jobs, len(tasks)) if jobs > 0 else jobs,
                batch_size=1,
                return_as="generator_unordered",
            )
            rows = _collect(parallel(delayed(run_task)(task, seed) for task in tasks), progress)
    fits = pd.DataFrame(rows)
    results = summarise(fits, checked, n_folds)
    info = {"n_ratings": len(ratings), **(meta or {})}
    seconds = time.perf_counter() - started
    return SearchResult(checked, n_folds, seed, results, fits, seconds, info)


def _collect(
    outputs: Iterator[list[dict[str, Any]]], progress: Callable[[int], None] | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for task_rows in outputs:
        rows.extend(task_rows)
        if progress is not None:
            progress(len(task_rows))
    return rows


def cross_validate(
    ratings: pd.DataFrame,
    params: Mapping[str, Any],
    *,
    n_folds: int = 3,
    seed: int | None = 0,
    n_jobs: int | None = 1,
) -> SearchResult:
    """k-fold cross-validation of one parameter set: a grid of one combination."""
    grid = check_grid({name: [params[name]] for name in PARAMETERS})
    return grid_search(ratings, grid, n_folds=n_folds, seed=seed, n_jobs=n_jobs)


# -- outputs --------------------------------------------------------------------------------


def write_outputs(result: SearchResult, out: Path) -> dict[str, Path]:
    """results.csv and results.json (every combination), rmse_heatmap.png, best_params.json."""
    from movierec.recommender.params import write_params_file
    from movierec.recommender.plots import plot_rmse_heatmaps

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "table": out / "results.csv",
        "json": out / "results.json",
        "plot": out / "rmse_heatmap.png",
        "params": out / "best_params.json",
    }
    result.results.to_csv(paths["table"], index=False)
    document = {
        "best": {"params": result.best_params, **result.selection_summary()},
        "grid": result.grid,
        "results": json.loads(result.results.to_json(orient="records")),
    }
    paths["json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    plot_rmse_heatmaps(result.results, result.best_params, paths["plot"], n_folds=result.n_folds)
    write_params_file(
        paths["params"],
        {**result.best_params, "random_state": result.seed},
        result.selection_summary(),
    )
    return paths
