"""Queries on ratings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Executable, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from movierec.db.models import DeletedRating, Movie, Rating
from movierec.db.repositories import read_frame
from movierec.recommender.data import RatingArrays


def ratings_frame(connection: Connection, *, with_timestamps: bool = False) -> pd.DataFrame:
    """All ratings (explicit and implicit) as user_id, movie_id, rating (and ts), in one
    query."""
    columns = [Rating.user_id, Rating.movie_id, Rating.rating]
    if with_timestamps:
        columns.append(Rating.ts)
    query = select(*columns).order_by(Rating.user_id, Rating.movie_id)
    return read_frame(query, connection, dtype={"user_id": "int64", "movie_id": "int64"})


_RATINGS = Rating.__table__
# Typed like their columns, so that timestamps go through UTCDateTime as in any other write.
_ROW = {
    name: bindparam(name, type_=_RATINGS.c[name].type)
    for name in ("user_id", "movie_id", "rating", "is_implicit", "ts")
}


@cache
def _rating_writes(dialect: str) -> dict[str, Executable]:
    """The upsert and the insert-if-absent of one rating, built once per dialect: on the path
    of every rating write, where composing them (``excluded`` builds a column proxy per column)
    cost more Python than running them."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(_RATINGS).values(_ROW)
    upsert = insert.on_conflict_do_update(
        index_elements=["user_id", "movie_id"],
        set_={
            "rating": insert.excluded.rating,
            "is_implicit": insert.excluded.is_implicit,
            "ts": insert.excluded.ts,
            # The row is the API's from now on: a re-load of the data set leaves it alone.
            "from_load": False,
        },
    )
    # Core keeps an INSERT's row count only when asked (the ORM asked for it before).
    absent = insert.on_conflict_do_nothing(
        index_elements=["user_id", "movie_id"]
    ).execution_options(preserve_rowcount=True)
    return {"upsert": upsert, "insert_if_absent": absent}


def _write(session: Session, kind: str, *row: object) -> int:
    """Run write ``kind`` of one rating (user_id, movie_id, rating, is_implicit, ts); the
    number of rows it wrote."""
    connection = session.connection()
    statement = _rating_writes(connection.dialect.name)[kind]
    return connection.execute(statement, dict(zip(_ROW, row, strict=True))).rowcount


# -- all ratings as arrays ---------------------------------------------------------------------
#
# A frame read through pandas.read_sql passes every value through a Python object (25M ratings:
# 100M objects, minutes and gigabytes). PostgreSQL sends binary COPY tuples, one per *user*
# (the user's movies and ratings as arrays), parsed a few megabytes at a time by numpy into
# arrays allocated once for the row count read first: a tuple per rating would cost psycopg a
# Python call per rating (25M: about a minute of CPU). SQLite, embedded, hands rows over in
# batches of plain tuples.

_ORDER = "ORDER BY user_id, movie_id"
# COPY (FORMAT BINARY): 11-byte signature, int32 flags, int32 header-extension length.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER = len(_COPY_SIGNATURE) + 8
_COPY_TRAILER = b"\xff\xff"  # int16 -1
# A tuple: int16 field count; int32 length + int8 user id; per array column an int32 length,
# a 20-byte header (ndim, has-nulls, element type, length, lower bound) and per element an
# int32 length + the 8-byte big-endian value.
_USER_FIELD = 2 + 4 + 8
_ARRAY_HEADER = 4 + 20
_ELEMENT = 4 + 8
# A binary timestamptz is int64 microseconds since 2000-01-01 00:00 UTC.
_PG_EPOCH_SECONDS = 946_684_800
_PARSE_BYTES = 8 * 2**20  # parse the COPY stream in blocks of about this size
_FETCH_ROWS = 50_000


def _columns(with_timestamps: bool) -> list[tuple[str, str]]:
    columns = [("user_id", "i8"), ("movie_id", "i8"), ("rating", "f8")]
    return columns + [("ts", "i8")] if with_timestamps else columns


class _ArraysBuilder:
    """Ratings appended block by block into arrays of a capacity known in advance (the row
    count), grown if rows arrived between the count and the read, trimmed if some went."""

    def __init__(self, capacity: int, with_timestamps: bool) -> None:
        self.names = [name for name, _ in _columns(with_timestamps)]
        self.arrays = {name: np.empty(capacity, kind) for name, kind in _columns(with_timestamps)}
        self.size = 0

    def append(self, block: Mapping[str, np.ndarray] | np.ndarray) -> None:
        """``block``: one array per column (a mapping, or a structured array's fields)."""
        end = self.size + len(block["user_id"])
        capacity = len(self.arrays["user_id"])
        if end > capacity:
            grown = max(end, capacity + capacity // 4 + 1024)
            self.arrays = {
                name: np.resize(array, grown) if self.size else np.empty(grown, array.dtype)
                for name, array in self.arrays.items()
            }
        for name in self.names:
            self.arrays[name][self.size : end] = block[name]
        self.size = end

    def result(self) -> RatingArrays:
        def trimmed(name: str) -> np.ndarray:
            array = self.arrays[name]
            return array if len(array) == self.size else array[: self.size].copy()

        return RatingArrays(
            trimmed("user_id"),
            trimmed("movie_id"),
            trimmed("rating"),
            trimmed("ts") if "ts" in self.arrays else None,
        )


class _UserTuplesParser:
    """Binary COPY tuples (user id, then one array per other column, all 8-byte values) into
    the builder: a Python step per user, numpy for the values."""

    def __init__(self, builder: _ArraysBuilder) -> None:
        self.builder = builder
        self.arrays = builder.names[1:]
        kinds = dict(_columns("ts" in builder.names))
        self.element_types = [np.dtype([("length", ">i4"), ("value", f">{kinds[name]}")])
                              for name in self.arrays]  # fmt: skip

    def parse(self, data: bytes) -> int:
        """Parse the whole tuples at the start of ``data``; the number of bytes they took."""
        users: list[int] = []
        counts: list[int] = []
        parts: list[list[np.ndarray]] = [[] for _ in self.arrays]
        offset, end = 0, len(data)
        while offset + _USER_FIELD + _ARRAY_HEADER <= end:
            fields = int.from_bytes(data[offset : offset + 2], "big", signed=True)
            if fields != 1 + len(self.arrays):
                raise ValueError(f"unexpected binary COPY tuple of {fields} fields")
            n = int.from_bytes(data[offset + _USER_FIELD + 16 : offset + _USER_FIELD + 20], "big")
            size = _USER_FIELD + len(self.arrays) * (_ARRAY_HEADER + n * _ELEMENT)
            if offset + size > end:
                break
            users.append(int.from_bytes(data[offset + 6 : offset + 14], "big", signed=True))
            counts.append(n)
            start = offset + _USER_FIELD + _ARRAY_HEADER
            for column, element_type in enumerate(self.element_types):
                parts[column].append(np.frombuffer(data, element_type, n, start))
                start += n * _ELEMENT + _ARRAY_HEADER
            offset += size
        if users:
            block = {"user_id": np.repeat(np.array(users, dtype=np.int64), counts)}
            for name, column in zip(self.arrays, parts, strict=True):
                elements = np.concatenate(column)
                if not np.all(elements["length"] == 8):
                    raise ValueError(f"unexpected binary COPY array element in {name}")
                block[name] = elements["value"]
            self.builder.append(block)
        return offset


def _ratings_arrays_postgres(connection: Connection, with_timestamps: bool) -> RatingArrays:
    count = connection.execute(select(func.count()).select_from(Rating)).scalar_one()
    builder = _ArraysBuilder(count, with_timestamps)
    parser = _UserTuplesParser(builder)
    casts = {"movie_id": "int8", "rating": "float8", "ts": "timestamptz"}
    # ORDER BY inside the aggregate: a sorted subquery's order is not guaranteed to survive
    # (a parallel aggregate combines partial arrays in any order).
    arrays = ", ".join(
        f"array_agg({name}::{casts[name]} ORDER BY movie_id)" for name in parser.arrays
    )
    statement = (
        f"COPY (SELECT user_id::int8, {arrays} FROM ratings GROUP BY user_id"
        # The column, not the cast output of the same name: the groups come out in this order
        # already, whereas sorting by the cast would sort every user's arrays again.
        " ORDER BY ratings.user_id) TO STDOUT (FORMAT BINARY)"
    )
    cursor = connection.connection.driver_connection.cursor()  # psycopg 3, this transaction
    pending: list[bytes] = []
    pending_bytes = 0
    header_done = False
    with cursor, cursor.copy(statement) as copy:
        for chunk in copy:  # one CopyData message (in practice a tuple) at a time
            pending.append(bytes(chunk))
            pending_bytes += len(chunk)
            if pending_bytes < _PARSE_BYTES:
                continue
            data = b"".join(pending)
            if not header_done:
                data, header_done = _skip_copy_header(data), True
            rest = data[parser.parse(data) :]
            pending, pending_bytes = [rest], len(rest)
    data = b"".join(pending)
    if not header_done:
        data = _skip_copy_header(data)
    if not data.endswith(_COPY_TRAILER):
        raise ValueError("binary COPY stream without its trailer")
    if parser.parse(data) != len(data) - len(_COPY_TRAILER):
        raise ValueError("binary COPY stream ends inside a tuple")
    if with_timestamps:  # microseconds since 2000 -> whole seconds since 1970, rounded down
        ts = builder.arrays["ts"][: builder.size]
        np.floor_divide(ts, 1_000_000, out=ts)
        ts += _PG_EPOCH_SECONDS
    return builder.result()


def _skip_copy_header(data: bytes) -> bytes:
    if not data.startswith(_COPY_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    extension = int.from_bytes(data[_COPY_HEADER - 4 : _COPY_HEADER], "big")
    return data[_COPY_HEADER + extension :]


def _ratings_arrays_fetchmany(connection: Connection, with_timestamps: bool) -> RatingArrays:
    count = connection.execute(select(func.count()).select_from(Rating)).scalar_one()
    builder = _ArraysBuilder(count, with_timestamps)
    block_type = np.dtype(_columns(with_timestamps))
    # SQLite keeps ts as naive UTC text: strftime('%s') is its epoch seconds, rounded down.
    ts = ", CAST(strftime('%s', ts) AS INTEGER)" if with_timestamps else ""
    result = connection.exec_driver_sql(
        f"SELECT user_id, movie_id, rating{ts} FROM ratings {_ORDER}"
    )
    while rows := result.fetchmany(_FETCH_ROWS):
        builder.append(np.array([tuple(row) for row in rows], dtype=block_type))
    return builder.result()


def ratings_arrays(connection: Connection, *, with_timestamps: bool = False) -> RatingArrays:
    """All ratings (explicit and implicit) as arrays, ordered by user then movie like
    ``ratings_frame``; with ``with_timestamps``, ``ts`` as int64 seconds since the epoch (UTC,
    rounded down). Memory: the arrays (24 or 32 bytes a rating) and a few megabytes more."""
    if connection.dialect.name == "postgresql":
        return _ratings_arrays_postgres(connection, with_timestamps)
    return _ratings_arrays_fetchmany(connection, with_timestamps)


def _insert(session: Session, table=Rating.__table__):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def upsert_rating(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> None:
    """Insert or replace a user's rating of a movie in one statement (INSERT ... ON CONFLICT DO
    UPDATE), so concurrent writers neither lose a write nor create a duplicate row.
    A missing user or movie raises IntegrityError (foreign keys). The row is the API's from
    now on (``from_load`` false): a re-load of the data set leaves it alone."""
    _write(session, "upsert", user_id, movie_id, rating, is_implicit, ts)


def insert_rating_if_absent(
    session: Session, user_id: int, movie_id: int, rating: float, is_implicit: bool, ts: datetime
) -> bool:
    """Insert a rating unless the user already rated the movie (INSERT ... ON CONFLICT DO
    NOTHING); True if it was inserted. A missing user or movie raises IntegrityError."""
    return bool(_write(session, "insert_if_absent", user_id, movie_id, rating, is_implicit, ts))


def get_rating(session: Session, user_id: int, movie_id: int) -> Rating | None:
    return session.get(Rating, (user_id, movie_id))


def delete_rating(
    session: Session, user_id: int, movie_id: int, *, implicit_only: bool = False
) -> bool:
    """Delete a user's rating of a movie (only an implicit one if asked); True if one went.
    A deleted rating leaves a tombstone, so a re-load of the data set does not bring it back."""
    statement = delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    if implicit_only:
        statement = statement.where(Rating.is_implicit.is_(True))
    result = session.execute(statement.execution_options(synchronize_session=False))
    if not result.rowcount:
        return False
    tombstone = _insert(session, DeletedRating.__table__).values(user_id=user_id, movie_id=movie_id)
    session.execute(tombstone.on_conflict_do_nothing(index_elements=["user_id", "movie_id"]))
    return True


def top_ratings(session: Session, user_id: int, limit: int) -> list[tuple[Rating, Movie]]:
    """A user's ratings with their movies: highest rating first, then newest (one query)."""
    return _user_ratings(
        session, user_id, limit, Rating.rating.desc(), Rating.ts.desc(), Rating.movie_id
    )


def latest_ratings(session: Session, user_id: int, limit: int) -> list[tuple[Rating, Movie]]:
    """A user's ratings with their movies: newest first, then highest rating (one query)."""
    return _user_ratings(
        session, user_id, limit, Rating.ts.desc(), Rating.rating.desc(), Rating.movie_id
    )


def _user_ratings(session: Session, user_id: int, limit: int, *order):  # type: ignore[no-untyped-def]
    query = (
        select(Rating, Movie)
        .join(Movie, Movie.movie_id == Rating.movie_id)
        .where(Rating.user_id == user_id)
        .order_by(*order)
        .limit(limit)
    )
    return [(rating, movie) for rating, movie in session.execute(query)]
