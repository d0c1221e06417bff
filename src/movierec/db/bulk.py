"""Bulk loading of whole data frames that never undoes what the API wrote.

Each frame goes into a temporary staging table on the engine's fast path (PostgreSQL: COPY;
SQLite, which has no COPY: one executemany), then set-based statements merge it into its table:
one UPDATE ... FROM of the rows that may change and differ, one INSERT ... SELECT of the missing
rows that were not deleted through the API. The whole load runs in the caller's transaction, so
a failure leaves nothing behind.

What a load may change (docs/data.md):

* users: missing ones are inserted; existing ones keep their details; a deleted user (tombstone
  in ``deleted_users``) is not brought back, nor are their ratings;
* movies: missing ones are inserted, existing ones take the file's title, year, genres and
  links; genres, a description, collection or keywords are replaced only by new ones, never
  by none (genres from a metadata file stay when movies.csv lists none);
  a movie created or changed through the API is left as the API left it (``--overwrite``: a
  loaded one takes the file's values again); a retired movie stays retired; a file movie
  whose id is a movie created through the API stops the load (``DataError``);
* ratings: missing ones are inserted unless deleted through the API (``deleted_ratings``);
  existing ones are updated only while they still hold what a load wrote (``from_load``), i.e.
  not rated, re-rated or watched through the API since; ``overwrite`` updates those too.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Table,
    Text,
    and_,
    exists,
    func,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from movierec.data import DataError
from movierec.data.movielens import NO_GENRES
from movierec.db.models import DeletedRating, DeletedUser, JSONList, Movie, Rating, User

COPY_CHUNK_ROWS = 250_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Merged:
    """What a merge did to one table."""

    inserted: int
    updated: int


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts of plain Python values (None for missing, datetimes for timestamps)."""
    timestamps = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    plain = frame.astype(object).where(frame.notna(), None)
    for column in timestamps:
        plain[column] = [v.to_pydatetime() if v is not None else None for v in plain[column]]
    return plain.to_dict("records")


def _copy_frame(
    connection: Connection, table: str, frame: pd.DataFrame, progress: Progress
) -> None:
    driver = connection.connection.driver_connection
    columns = ", ".join(frame.columns)
    statement = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for start in range(0, len(frame), COPY_CHUNK_ROWS):
            chunk = frame.iloc[start : start + COPY_CHUNK_ROWS]
            buffer = io.StringIO()
            chunk.to_csv(buffer, header=False, index=False)
            copy.write(buffer.getvalue())
            progress(len(chunk))


def _staged_type(kind: object, sqlite: bool) -> object:
    # The frame holds JSON as text: PostgreSQL's COPY parses it into jsonb; SQLite keeps JSON
    # as text anyway, and a JSON-typed column there would encode the text a second time.
    return Text() if sqlite and kind is JSONList else kind


@contextmanager
def _staged(
    connection: Connection, table: Table, frame: pd.DataFrame, progress: Progress
) -> Iterator[Table]:
    """A temporary table with the frame's columns (typed as in ``table``), filled with it."""
    sqlite = connection.dialect.name == "sqlite"
    stage = Table(
        f"stage_{table.name}",
        MetaData(),
        *(Column(name, _staged_type(table.c[name].type, sqlite)) for name in frame.columns),
        prefixes=["TEMPORARY"],
    )
    if sqlite:  # one left by a load that failed on this pooled connection (see load_dataset)
        stage.drop(connection, checkfirst=True)
    stage.create(connection)
    if connection.dialect.name == "postgresql":
        _copy_frame(connection, stage.name, frame, progress)
        # Temporary tables get no statistics by themselves: without them the planner would
        # guess a few rows and probe the big table row by row instead of one hash join.
        connection.execute(text(f"ANALYZE {stage.name}"))
    else:
        connection.execute(stage.insert(), _records(frame))
        progress(len(frame))
    yield stage
    # Not in a `finally`: after an error the transaction rolls back, which drops it anyway.
    stage.drop(connection)


def merge_frame(
    connection: Connection,
    table: Table,
    frame: pd.DataFrame,
    *,
    updates: Callable[[Table], dict[str, ColumnElement[object]]] | None = None,
    updatable: ColumnElement[bool] | None = None,
    skip: Callable[[Table], Sequence[ColumnElement[bool]]] = lambda _stage: (),
    progress: Progress = lambda _rows: None,
) -> Merged:
    """Merge ``frame`` into ``table`` by primary key, set-based.

    Rows of ``table`` that match, satisfy ``updatable`` (all, if None) and would change get
    ``updates(stage)``; rows of the frame with no match and none of the ``skip(stage)``
    conditions are inserted. Rows inserted meanwhile by another writer win.
    """
    if frame.empty:
        return Merged(0, 0)
    key = [c.name for c in table.primary_key.columns]
    with _staged(connection, table, frame, progress) as stage:
        same_key = and_(*(table.c[name] == stage.c[name] for name in key))
        existing = table.alias("existing")
        empty = not connection.execute(select(exists().select_from(table))).scalar_one()
        updated = 0
        if updates is not None and not empty:
            assignments = updates(stage)
            # Only rows that would change are written (and locked): a repeated load writes nothing.
            differs = or_(*(table.c[n].is_distinct_from(v) for n, v in assignments.items()))
            result = connection.execute(
                update(table)
                .where(same_key, updatable if updatable is not None else true(), differs)
                .values(assignments)
            )
            updated = result.rowcount
        columns = list(frame.columns)
        missing = select(*(stage.c[name] for name in columns)).where(
            ~exists().where(*(existing.c[name] == stage.c[name] for name in key)), *skip(stage)
        )
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).from_select(columns, missing)
        deferred = empty and connection.dialect.name == "postgresql"
        if not deferred:
            # A row another writer inserted meanwhile wins. (Deferring the checks alters the
            # table, which locks out every other writer until the load commits: no conflict
            # can arise then, and a plain insert is faster than ON CONFLICT's speculative one.)
            insert = insert.on_conflict_do_nothing(index_elements=key)
        with _checks_deferred_to_the_end(connection, table.name, enabled=deferred):
            inserted = connection.execute(insert.execution_options(preserve_rowcount=True)).rowcount
    return Merged(inserted=inserted, updated=updated)


@contextmanager
def _checks_deferred_to_the_end(
    connection: Connection, table: str, *, enabled: bool
) -> Iterator[None]:
    """Build the table's secondary indexes and check its foreign keys once, after a bulk insert
    into the empty table, instead of row by row (several times faster for millions of rows).

    They are recreated from their own definitions in the catalog, so the schema stays exactly
    what the migrations made; all of it runs in the caller's transaction.
    """
    if not enabled:
        yield
        return
    indexes = connection.execute(
        text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:table AS regclass) AND NOT x.indisprimary "
            "AND NOT x.indisunique"
        ),
        {"table": table},
    ).all()
    foreign_keys = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'"
        ),
        {"table": table},
    ).all()
    for name, _definition in foreign_keys:
        connection.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _definition in indexes:
        connection.execute(text(f'DROP INDEX "{name}"'))
    yield
    for _name, definition in indexes:
        connection.execute(text(definition))
    for name, definition in foreign_keys:
        connection.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def sync_user_id_sequence(connection: Connection) -> None:
    """After loading explicit user ids, new users must continue after the highest id ever
    handed out: the highest loaded one, or a later one given to a user since deleted."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "WITH issued AS (SELECT GREATEST("
                "  COALESCE((SELECT MAX(user_id) FROM users), 0),"
                "  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM users_user_id_seq)"
                ") AS id) "
                "SELECT setval('users_user_id_seq', GREATEST(id, 1), id > 0) FROM issued"
            )
        )
    # SQLite's AUTOINCREMENT already continues after the highest id it ever handed out.


def sync_movie_id_sequence(connection: Connection) -> None:
    """After loading explicit movie ids, movies created through the API continue after the
    highest id ever used (PostgreSQL's sequence; SQLite takes the highest id plus one itself,
    and movies are never deleted)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "WITH issued AS (SELECT GREATEST("
                "  COALESCE((SELECT MAX(movie_id) FROM movies), 0),"
                "  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM movies_movie_id_seq)"
                ") AS id) "
                "SELECT setval('movies_movie_id_seq', GREATEST(id, 1), id > 0) FROM issued"
            )
        )


def check_no_created_movie_reloaded(connection: Connection, movies: pd.DataFrame) -> None:
    """A file movie whose id belongs to a movie created through the API is another movie
    under the same id (a newer data set): its ratings would be filed under the API's movie.
    Refused, naming both, before anything is written."""
    created = connection.execute(
        select(Movie.movie_id, Movie.title, Movie.year).where(Movie.created_at.is_not(None))
    ).all()
    if not created:
        return
    by_id = {row.movie_id: row for row in created}
    clashes = movies[movies["movie_id"].isin(list(by_id))]
    if clashes.empty:
        return
    first = clashes.iloc[0]
    mine = by_id[int(first["movie_id"])]
    raise DataError(
        f"movieId {int(first['movie_id'])} of the data set ({first['title']!r}) is the id of "
        f"a movie created through the API ({mine.title!r}, {mine.year}); "
        f"{len(clashes)} movie id(s) clash in all: load into another database, or leave "
        "those movies out of the files"
    )


def _user_deleted(stage: Table) -> ColumnElement[bool]:
    return exists().where(DeletedUser.user_id == stage.c.user_id)


def load_dataset(
    connection: Connection,
    users: pd.DataFrame,
    movies: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    overwrite: bool = False,
    progress: Callable[[str, int], None] = lambda _table, _rows: None,
) -> dict[str, Merged]:
    """Merge a whole data set (users, movies, ratings) without undoing API writes; with
    ``overwrite`` the file's ratings also replace those changed through the API. Deleted users
    and ratings stay deleted either way."""
    # Before anything is staged: SQLite keeps a temporary table created in a failed load (its
    # DDL is not rolled back), so a refusal must come first.
    check_no_created_movie_reloaded(connection, movies)
    if connection.dialect.name == "postgresql":
        # The merges join whole tables; with an unanalysed (say empty) tombstone table the
        # planner guesses thousands of rows there, expects every staged row to be deleted,
        # and probes the big table row by row instead of hashing it.
        connection.execute(text("ANALYZE deleted_users, deleted_ratings"))
    merged = {
        "users": merge_frame(
            connection,
            User.__table__,
            users,
            skip=lambda stage: [~_user_deleted(stage)],
            progress=lambda n: progress("users", n),
        )
    }
    sync_user_id_sequence(connection)
    movie_columns = [c for c in movies.columns if c != "movie_id"]
    kept_unless_new = {"description", "collection", "keywords"}

    def movie_updates(stage: Table) -> dict[str, ColumnElement[object]]:
        values: dict[str, ColumnElement[object]] = {
            name: (
                func.coalesce(stage.c[name], Movie.__table__.c[name])
                if name in kept_unless_new
                else stage.c[name]
            )
            for name in movie_columns
        }
        if "genres" in values:  # "no genres" in the file keeps genres known otherwise
            values["genres"] = func.coalesce(
                func.nullif(stage.c.genres, NO_GENRES), Movie.__table__.c.genres, stage.c.genres
            )
        if overwrite:  # the file's values again: the movie counts as loaded
            values["edited_at"] = null()
        return values

    merged["movies"] = merge_frame(
        connection,
        Movie.__table__,
        movies,
        updates=movie_updates,
        # Changed through the API: left alone, unless --overwrite (never a created one).
        updatable=Movie.created_at.is_(None) if overwrite else Movie.edited_at.is_(None),
        progress=lambda n: progress("movies", n),
    )
    sync_movie_id_sequence(connection)
    merged["ratings"] = merge_frame(
        connection,
        Rating.__table__,
        ratings.assign(from_load=True),
        updates=lambda stage: {
            "rating": stage.c.rating,
            "is_implicit": stage.c.is_implicit,
            "ts": stage.c.ts,
            "from_load": true(),
        },
        updatable=None if overwrite else Rating.from_load,
        skip=lambda stage: [
            ~_user_deleted(stage),
            ~exists().where(
                DeletedRating.user_id == stage.c.user_id,
                DeletedRating.movie_id == stage.c.movie_id,
            ),
        ],
        progress=lambda n: progress("ratings", n),
    )
    return merged


def table_counts(connection: Connection) -> dict[str, int]:
    return {
        name: connection.execute(select(func.count()).select_from(model)).scalar_one()
        for name, model in (("users", User), ("movies", Movie), ("ratings", Rating))
    }
