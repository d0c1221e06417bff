"""Load a MovieLens data set (folder, zip or URL) into the configured database."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from movierec.data import DataError
from movierec.data.download import resolve_source
from movierec.data.movielens import read_movies, read_ratings
from movierec.db import Database
from movierec.db.bulk import Merged, load_dataset, table_counts


@dataclass(frozen=True)
class LoadReport:
    read: dict[str, int]
    # Movies of the files that came with a description (0 without --metadata: the
    # descriptions already stored are kept), a collection, keywords (tags.csv, metadata).
    descriptions: int
    collections: int
    with_keywords: int
    merged: dict[str, Merged]
    totals: dict[str, int]
    seconds: float

    def summary(self) -> str:
        """What was read, written and is now stored, for the operator (three lines)."""

        def counts(values: dict[str, int]) -> str:
            return ", ".join(f"{n:,} {table}" for table, n in values.items())

        descriptions = (
            f"{self.descriptions:,} descriptions"
            if self.descriptions
            else "no descriptions (those stored are kept)"
        )
        inserted = {table: m.inserted for table, m in self.merged.items()}
        updated = {table: m.updated for table, m in self.merged.items() if table != "users"}
        content = (
            f" ({self.collections:,} movies in a collection, {self.with_keywords:,} with keywords)"
            if self.collections or self.with_keywords
            else ""
        )
        return (
            f"read {counts(self.read)} and {descriptions} in {self.seconds:.1f}s{content}\n"
            f"inserted {counts(inserted)}; updated {counts(updated)}\n"
            f"the database now holds {counts(self.totals)}"
        )


def prepare(folder: Path, metadata: Path | None = None) -> tuple[pd.DataFrame, ...]:
    """The users, movies and ratings frames of a MovieLens folder, validated together."""
    movies = read_movies(folder, metadata)
    ratings = read_ratings(folder)
    unknown = ~ratings["movie_id"].isin(movies["movie_id"])
    if unknown.any():
        row = int(unknown.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{folder / 'ratings.csv'}:{row + 2}: movieId {ratings['movie_id'].iloc[row]} "
            "is not in movies.csv"
        )
    users = pd.DataFrame({"user_id": pd.Series(ratings["user_id"].unique()).sort_values()})
    ratings = ratings.assign(is_implicit=False)[
        ["user_id", "movie_id", "rating", "is_implicit", "ts"]
    ]
    return users, movies, ratings


def load_movielens(
    db: Database,
    source: str,
    *,
    metadata: Path | None = None,
    sha256: str | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> LoadReport:
    """Read, validate and merge a data set. Validation happens before the database is touched
    and the writes run in one transaction, so bad input leaves the database as it was.

    What the API wrote is never undone (db/bulk.py): ratings changed through the API are
    updated only with ``overwrite``; deleted users and ratings are never brought back."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="movierec-") as workdir:
        folder = resolve_source(source, Path(workdir), sha256=sha256)
        users, movies, ratings = prepare(folder, metadata)
    read = {"users": len(users), "movies": len(movies), "ratings": len(ratings)}
    with (
        db.engine.begin() as connection,
        tqdm(
            total=sum(read.values()), unit="rows", desc="loading", disable=not show_progress
        ) as bar,
    ):

        def progress(table: str, rows: int) -> None:
            bar.set_postfix_str(table)
            bar.update(rows)

        merged = load_dataset(
            connection, users, movies, ratings, overwrite=overwrite, progress=progress
        )
        totals = table_counts(connection)
    return LoadReport(
        read=read,
        descriptions=int(movies["description"].notna().sum()),
        collections=int(movies["collection"].notna().sum()),
        with_keywords=int(movies["keywords"].notna().sum()),
        merged=merged,
        totals=totals,
        seconds=time.perf_counter() - started,
    )
