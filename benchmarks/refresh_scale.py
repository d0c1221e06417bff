"""Benchmark: the whole refresh at MovieLens-25M scale, as the scheduler runs it.

    python benchmarks/refresh_scale.py --ratings 1M [--ratings 5M ...] [--data-dir DIR]

For each size: generates a synthetic MovieLens-25M-shaped data set (synthetic.py: deterministic
per --seed; 25M = 162,541 users x 59,047 movies, with genres, overviews, collections and tags
for the content model), loads it into a throwaway PostgreSQL database with the product's loader
(the ``movierec data load --metadata`` code path), then in a fresh child process
(spawned, like the scheduler process: nothing inherited) runs
``movierec.jobs.refresh.refresh_recommendations`` and ``refresh_statistics`` against a Redis
namespace of its own, and prints every ``*_seconds`` figure of the reports (whatever the refresh
reports: the table follows the refresh's internals), the child's peak RSS after each refresh
(VmHWM: the scheduler process's high-water mark), and the load's time and peak (in a
child process of its own too).

With --reads it also times reading the ratings in their own child processes: the pandas frame
(``ratings_frame``) against the arrays (``ratings_arrays``, binary COPY), with their peaks.

Sizes take a suffix K or M. --data-dir keeps the generated folders (a 25M folder takes
minutes to write) and reuses them on the next run. The database and Redis keys are deleted
at the end, also on failure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from synthetic import synthetic_movielens

from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.db.migrate import upgrade


def size(value: str) -> int:
    """1000000, 1M, 250K."""
    value = value.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in "KM" else value
    try:
        n = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {value!r} (e.g. 1M, 250K)") from None
    if n < 1000:
        raise argparse.ArgumentTypeError("at least 1K ratings")
    return n


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux: VmHWM, the high-water mark of this program
    image (ru_maxrss would also count the parent's memory at the fork before the spawn's exec)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )  # KiB (Linux), bytes (macOS)
    return int(status.split("VmHWM:")[1].split()[0]) / 1024  # KiB


# -- in the child process -------------------------------------------------------------------


def _child_settings(database_url: str, redis_url: str, prefix: str, data_dir: str):  # type: ignore[no-untyped-def]
    from movierec.config import load_settings

    # DATA_DIR of its own: no model-params.json of the machine changes the model.
    return load_settings(
        DATABASE_URL=database_url, REDIS_URL=redis_url, REDIS_KEY_PREFIX=prefix, DATA_DIR=data_dir
    )


def run_refresh(database_url: str, redis_url: str, prefix: str, data_dir: str) -> dict[str, Any]:
    """Both refreshes, as the scheduler runs them one after the other in its process."""
    from movierec.cache import CacheStore
    from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

    settings = _child_settings(database_url, redis_url, prefix, data_dir)
    db, cache = Database(settings.database_url), CacheStore.from_settings(settings)
    idle = peak_rss_mib()
    try:
        recommendations = refresh_recommendations(db, cache, settings, show_progress=False)
        after_recommendations = peak_rss_mib()
        statistics = refresh_statistics(db, cache, settings)
    finally:
        cache.close()
        db.dispose()
    return {
        "recommendations": asdict(recommendations),
        "statistics": asdict(statistics),
        "peak_rss_before_mib": idle,
        "peak_rss_recommendations_mib": after_recommendations,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_load(database_url: str, folder: str) -> dict[str, Any]:
    """``movierec data load --source folder``'s code path; its time and this process's peak."""
    database = Database(database_url)
    started = time.perf_counter()
    metadata = Path(folder) / "metadata.csv"  # the content model's overviews and collections
    report = load_movielens(
        database, folder, metadata=metadata if metadata.is_file() else None, show_progress=False
    )
    seconds = time.perf_counter() - started
    database.dispose()
    return {"seconds": seconds, "peak_rss_mib": peak_rss_mib(), "counts": report.totals}


def run_read(database_url: str, how: str) -> dict[str, Any]:
    """Read every rating one way; its time and this process's peak."""
    from movierec.db.repositories.ratings import ratings_arrays, ratings_frame

    read = {"frame": ratings_frame, "arrays": ratings_arrays}[how]
    db = Database(database_url)
    idle = peak_rss_mib()
    started = time.perf_counter()
    with db.engine.connect() as connection:
        n = len(read(connection))
    seconds = time.perf_counter() - started
    db.dispose()
    return {"rows": n, "seconds": seconds, "peak_rss_mib": peak_rss_mib(), "idle_mib": idle}


def in_child(function, *args):  # type: ignore[no-untyped-def]
    """``function(*args)`` in a new spawned process (its own peak RSS), returning its result."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# -- in this process --------------------------------------------------------------------------


@contextmanager
def throwaway_database(admin_url: str):  # type: ignore[no-untyped-def]
    name = f"movierec_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def dataset_folder(n_ratings: int, seed: int, data_dir: Path) -> tuple[Path, float]:
    """The generated folder (reused when --data-dir already has it) and the seconds spent."""
    # "-content": folders written before the generator wrote content are not reused.
    folder = data_dir / f"synthetic-{n_ratings}-seed{seed}-content"
    if (folder / "metadata.csv").is_file():
        return folder, 0.0
    started = time.perf_counter()
    partial = data_dir / f".{folder.name}.partial"
    synthetic_movielens(partial, n_ratings, seed)
    partial.rename(folder)
    return folder, time.perf_counter() - started


def measure(n_ratings: int, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    folder, generate_seconds = dataset_folder(n_ratings, args.seed, data_dir)
    figures: dict[str, Any] = {"generate_seconds": generate_seconds}
    with throwaway_database(args.admin_url) as url, tempfile.TemporaryDirectory() as scratch:
        upgrade(url)
        load = in_child(run_load, url, str(folder))
        figures["load_seconds"] = load["seconds"]
        figures["load_peak_rss_mib"] = load["peak_rss_mib"]
        figures["counts"] = load["counts"]
        if args.reads:
            figures["reads"] = {how: in_child(run_read, url, how) for how in ("frame", "arrays")}
        prefix = f"movierec-scale-{uuid.uuid4().hex[:8]}"
        try:
            figures["refresh"] = in_child(run_refresh, url, args.redis_url, prefix, scratch)
        finally:
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.delete(key)
            client.close()
    return figures


def print_table(results: dict[int, dict[str, Any]]) -> None:
    sizes = list(results)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: list[object], fmt: str = "{:,.1f}") -> None:
        rows.append((label, ["-" if v is None else fmt.format(v) for v in values]))

    row("ratings", [results[n]["counts"].get("ratings") for n in sizes], "{:,}")
    row("users", [results[n]["counts"].get("users") for n in sizes], "{:,}")
    row("movies", [results[n]["counts"].get("movies") for n in sizes], "{:,}")
    row("data load (movierec data load), s", [results[n]["load_seconds"] for n in sizes])
    row("  peak RSS of the load, MiB", [results[n]["load_peak_rss_mib"] for n in sizes], "{:,.0f}")
    if all("reads" in results[n] for n in sizes):
        for how in ("frame", "arrays"):
            label = "ratings_frame (read_sql)" if how == "frame" else "ratings_arrays (COPY)"
            row(f"read {label}, s", [results[n]["reads"][how]["seconds"] for n in sizes])
            peaks = [results[n]["reads"][how]["peak_rss_mib"] for n in sizes]
            row("  peak RSS of that process, MiB", peaks, "{:,.0f}")
    reports = [results[n]["refresh"]["recommendations"] for n in sizes]
    if "ranker" in reports[0]:  # the ranking model, when the refresh has one
        row("refresh: ranking model", [r.get("ranker") for r in reports], "{}")
    steps = [key for key in reports[0] if key.endswith("_seconds") and key != "total_seconds"]
    for key in steps:
        row(f"refresh: {key.removesuffix('_seconds')}, s", [r.get(key) for r in reports])
    row("refresh: total, s", [r.get("total_seconds") for r in reports])
    row("  train RMSE", [r.get("train_rmse") for r in reports], "{:.4f}")
    row("statistics refresh, s", [results[n]["refresh"]["statistics"]["seconds"] for n in sizes])
    idle = [results[n]["refresh"]["peak_rss_before_mib"] for n in sizes]
    row("RSS of the refresh process before it, MiB", idle, "{:,.0f}")
    peaks = [results[n]["refresh"]["peak_rss_recommendations_mib"] for n in sizes]
    row("peak RSS after recommendations, MiB", peaks, "{:,.0f}")
    row("peak RSS after statistics, MiB", [results[n]["refresh"]["peak_rss_mib"] for n in sizes],
        "{:,.0f}")  # fmt: skip

    width = max(len(label) for label, _ in rows) + 2
    print(f"\n{'':<{width}}" + "".join(f"{f'{n:,}':>14}" for n in sizes))
    for label, values in rows:
        print(f"{label:<{width}}" + "".join(f"{v:>14}" for v in values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ratings", type=size, action="append", help="size, e.g. 1M (repeatable) [1M]"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, help="keep and reuse the generated folders")
    parser.add_argument("--reads", action="store_true", help="also time frame vs arrays reads")
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    sizes = args.ratings or [1_000_000]

    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="movierec-scale-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        for n in sizes:
            print(f"{n:,} ratings: generating, loading, refreshing ...", flush=True)
            results[n] = measure(n, args, data_dir)
            refresh = results[n]["refresh"]["recommendations"]
            print(f"  load {results[n]['load_seconds']:.1f}s, refresh "
                  f"{refresh['total_seconds']:.1f}s, peak "
                  f"{results[n]['refresh']['peak_rss_mib']:,.0f} MiB", flush=True)  # fmt: skip
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
