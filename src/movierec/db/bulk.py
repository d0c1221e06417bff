"""Bulk upserts of whole data frames, on each engine's fast path.

PostgreSQL: COPY into a temporary staging table, then one INSERT ... SELECT ... ON CONFLICT.
SQLite: one executemany of INSERT ... ON CONFLICT (there is no COPY; executemany is its fast path).
Either way the whole load runs in the caller's transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import Connection, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from movierec.db.models import Movie, Rating, User

COPY_CHUNK_ROWS = 250_000

Progress = Callable[[int], None]


def _upsert_statement(connection: Connection, table: Table, key: Sequence[str], update: bool):  # type: ignore[no-untyped-def]
    insert = (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)
    if not update:
        return insert.on_conflict_do_nothing(index_elements=list(key))
    columns = [c.name for c in table.columns if c.name not in key]
    return insert.on_conflict_do_update(
        index_elements=list(key), set_={name: insert.excluded[name] for name in columns}
    )


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


def upsert_frame(
    connection: Connection,
    table: Table,
    frame: pd.DataFrame,
    *,
    update: bool = True,
    progress: Progress = lambda _rows: None,
) -> None:
    """Insert the rows of ``frame`` into ``table``; rows whose key exists are updated
    (``update=True``) or left as they are."""
    if frame.empty:
        return
    key = [c.name for c in table.primary_key.columns]
    if connection.dialect.name != "postgresql":
        connection.execute(_upsert_statement(connection, table, key, update), _records(frame))
        progress(len(frame))
        return
    stage = f"stage_{table.name}"
    connection.execute(
        text(
            f"CREATE TEMPORARY TABLE {stage} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    _copy_frame(connection, stage, frame, progress)
    columns = ", ".join(frame.columns)
    updates = [name for name in frame.columns if name not in key]
    if update and updates:
        assignments = ", ".join(f"{name} = EXCLUDED.{name}" for name in updates)
        # Skip rows that would not change, so a repeated load rewrites nothing.
        changed = " OR ".join(f"{table.name}.{n} IS DISTINCT FROM EXCLUDED.{n}" for n in updates)
        conflict = f"DO UPDATE SET {assignments} WHERE {changed}"
    else:
        conflict = "DO NOTHING"
    insert = text(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage} "
        f"ON CONFLICT ({', '.join(key)}) {conflict}"
    )
    if _is_empty(connection, table.name):
        with _checks_deferred_to_the_end(connection, table.name):
            connection.execute(insert)
    else:
        connection.execute(insert)
    connection.execute(text(f"DROP TABLE {stage}"))


def _is_empty(connection: Connection, table: str) -> bool:
    return connection.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {table})")).scalar_one()


@contextmanager
def _checks_deferred_to_the_end(connection: Connection, table: str) -> Iterator[None]:
    """Build the table's secondary indexes and check its foreign keys once, after a bulk insert
    into the empty table, instead of row by row (several times faster for millions of rows).

    They are recreated from their own definitions in the catalog, so the schema stays exactly
    what the migrations made; all of it runs in the caller's transaction.
    """
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


def load_dataset(
    connection: Connection,
    users: pd.DataFrame,
    movies: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    progress: Callable[[str, int], None] = lambda _table, _rows: None,
) -> None:
    """Upsert a whole data set: users (existing ones keep their details), movies, ratings."""
    upsert_frame(
        connection, User.__table__, users, update=False, progress=lambda n: progress("users", n)
    )
    sync_user_id_sequence(connection)
    upsert_frame(connection, Movie.__table__, movies, progress=lambda n: progress("movies", n))
    upsert_frame(connection, Rating.__table__, ratings, progress=lambda n: progress("ratings", n))


def table_counts(connection: Connection) -> dict[str, int]:
    return {
        name: connection.execute(select(func.count()).select_from(model)).scalar_one()
        for name, model in (("users", User), ("movies", Movie), ("ratings", Rating))
    }
