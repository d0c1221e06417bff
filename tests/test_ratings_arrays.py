"""All ratings read as arrays (binary COPY on PostgreSQL, fetchmany on SQLite), against the
frame read through pandas and the ORM's own timestamps."""

from __future__ import annotations

import struct
from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import select

from movierec.db import Database
from movierec.db.models import Rating
from movierec.db.repositories import ratings as ratings_repo
from movierec.db.repositories.ratings import ratings_arrays, ratings_frame, upsert_rating
from movierec.db.repositories.users import create_user


def _orm_epoch_seconds(db: Database) -> np.ndarray:
    with db.session() as session:
        stamps = session.scalars(select(Rating.ts).order_by(Rating.user_id, Rating.movie_id))
        return np.array([int(ts.timestamp() // 1) for ts in stamps], dtype=np.int64)


def test_arrays_equal_the_frame(loaded_db: Database) -> None:
    with loaded_db.engine.connect() as connection:
        frame = ratings_frame(connection)
        arrays = ratings_arrays(connection)
    assert len(arrays) == len(frame) > 1000
    assert arrays.timestamps is None
    for ours, column in zip(
        (arrays.user_ids, arrays.movie_ids, arrays.ratings),
        ("user_id", "movie_id", "rating"),
        strict=True,
    ):
        expected = frame[column].to_numpy()
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours, expected, err_msg=column)


def test_timestamps_are_utc_epoch_seconds(loaded_db: Database) -> None:
    # An API-style rating: a timezone other than UTC and a fraction of a second.
    with loaded_db.session() as session:
        user = create_user(session, gender=None, year_of_birth=None)
        moment = datetime.fromisoformat("2021-03-04T05:06:07.890123+02:00")
        upsert_rating(session, user.user_id, 10, 4.5, False, moment)
        session.commit()
    with loaded_db.engine.connect() as connection:
        arrays = ratings_arrays(connection, with_timestamps=True)
    np.testing.assert_array_equal(arrays.timestamps, _orm_epoch_seconds(loaded_db))
    assert arrays.timestamps.dtype == np.int64
    last = int(np.flatnonzero(arrays.user_ids == user.user_id)[0])
    assert arrays.timestamps[last] == 1614827167  # 03:06:07 UTC, the fraction dropped
    # MovieLens' own integer timestamps come back as they were in ratings.csv.
    first = int(np.argmin(arrays.user_ids))
    assert arrays.timestamps[first] == 1_500_000_000 + int(arrays.movie_ids[first]) // 10 - 1


def test_no_ratings_is_empty_arrays(db: Database) -> None:
    with db.engine.connect() as connection:
        arrays = ratings_arrays(connection, with_timestamps=True)
    assert arrays.empty and arrays.timestamps is not None and len(arrays.timestamps) == 0


def test_builder_grows_and_trims_when_the_count_is_stale() -> None:
    # Rows may arrive (or go) between the count and the read: the arrays follow the read.
    block_type = np.dtype(ratings_repo._columns(False))
    rows = np.array([(u, u * 10, 0.5 * (u % 10)) for u in range(1, 3000)], dtype=block_type)
    grown = ratings_repo._ArraysBuilder(10, with_timestamps=False)
    for start in range(0, len(rows), 700):
        grown.append(rows[start : start + 700])
    result = grown.result()
    np.testing.assert_array_equal(result.movie_ids, rows["movie_id"])
    trimmed = ratings_repo._ArraysBuilder(5000, with_timestamps=False)
    trimmed.append(rows[:7])
    assert trimmed.result().user_ids.tolist() == list(range(1, 8))


def _copy_tuple(user: int, movies: list[int], ratings: list[float]) -> bytes:
    """One tuple as PostgreSQL's binary COPY writes (user_id::int8, array_agg(int8),
    array_agg(float8))."""

    def array(oid: int, code: str, values: list) -> bytes:  # type: ignore[type-arg]
        body = struct.pack(">iiiii", 1, 0, oid, len(values), 1)
        body += b"".join(struct.pack(f">i{code}", 8, value) for value in values)
        return struct.pack(">i", len(body)) + body

    return struct.pack(">hiq", 3, 8, user) + array(20, "q", movies) + array(701, "d", ratings)


def test_copy_tuples_split_anywhere_parse_whole_tuples_only() -> None:
    users = {7: ([1, 5, 9], [4.0, 0.5, 3.5]), 8: ([2], [5.0]), 12: ([3, 4], [1.0, 2.5])}
    stream = b"".join(_copy_tuple(u, m, r) for u, (m, r) in users.items())
    for cut in (len(stream) - 1, len(_copy_tuple(7, *users[7])) + 5, len(stream)):
        builder = ratings_repo._ArraysBuilder(2, with_timestamps=False)
        parser = ratings_repo._UserTuplesParser(builder)
        used = parser.parse(stream[:cut])
        used += parser.parse(stream[used:])  # the rest, as the next block
        assert used == len(stream)
        result = builder.result()
        assert result.user_ids.tolist() == [7, 7, 7, 8, 12, 12]
        assert result.movie_ids.tolist() == [1, 5, 9, 2, 3, 4]
        assert result.ratings.tolist() == [4.0, 0.5, 3.5, 5.0, 1.0, 2.5]


def test_copy_tuple_of_the_wrong_shape_is_refused() -> None:
    parser = ratings_repo._UserTuplesParser(ratings_repo._ArraysBuilder(1, with_timestamps=True))
    with pytest.raises(ValueError, match="3 fields"):  # the timestamps array missing
        parser.parse(_copy_tuple(1, [2], [3.0]))
