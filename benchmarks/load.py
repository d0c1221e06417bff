"""Benchmark: loading ratings into PostgreSQL with MovieRec's loader against pandas' to_sql.

Generates a synthetic MovieLens folder (synthetic.py; default 2M ratings; --ratings 25000000
for the ML-25M size), creates a throwaway database, then times in one run:

  * movierec: validate + prepare the files, COPY into staging, one upsert (the real loader);
  * reference: pandas ``DataFrame.to_sql(method="multi")`` of the same ratings frame into a
    plain table (no constraints, no upsert): the usual way people load a frame;
  * movierec again on the loaded database (the idempotent re-load).

    python benchmarks/load.py [--ratings N] [--admin-url URL] [--no-reference]

Prints rows per second, the ratio, and the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from synthetic import synthetic_movielens

from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.db.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=2_000_000)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="Skip the (slow) pandas to_sql reference."
    )
    args = parser.parse_args()

    name = f"movierec_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            folder = synthetic_movielens(Path(tmp) / "ml", args.ratings)
            n = len(pd.read_csv(folder / "ratings.csv", usecols=["userId"]))
            print(f"generated {n:,} ratings in {time.perf_counter() - started:.1f}s")
            upgrade(url)
            database = Database(url)

            started = time.perf_counter()
            load_movielens(database, str(folder), show_progress=False)
            ours = time.perf_counter() - started

            started = time.perf_counter()
            load_movielens(database, str(folder), show_progress=False)
            reload = time.perf_counter() - started

            reference = None
            if not args.no_reference:
                frame = pd.read_csv(folder / "ratings.csv")
                started = time.perf_counter()
                frame.to_sql(
                    "ratings_reference",
                    database.engine,
                    method="multi",
                    chunksize=10_000,
                    index=False,
                )
                reference = time.perf_counter() - started
            database.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'step':<44}{'seconds':>10}{'rows/s':>14}")
    steps = [
        ("movierec load (validate, COPY, merge)", ours),
        ("movierec re-load (idempotent, no changes)", reload),
    ]
    if reference is not None:
        steps.append(("reference: pandas to_sql(method='multi')", reference))
    for label, seconds in steps:
        print(f"{label:<44}{seconds:>10.1f}{n / seconds:>14,.0f}")
    if reference is not None:
        print(f"speed-up over to_sql: {reference / ours:.1f}x")
    print(f"peak RSS {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
