"""A user's history as the recommendation path reads it (one query): the ratings in the order
they were made, oldest first and those of the same time by movie id, each with its time, on
both back ends, whichever way the ratings were written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text

from conftest import ML_SMALL, make_movielens, new_user, requires_movielens
from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.db.models import DismissedMovie, Rating
from movierec.db.repositories.user_history import UserHistory, user_history

# Synthetic data set (conftest.small_movielens): users 1..60, movies 10, 20, ..., 1200.
EASTERN = timezone(timedelta(hours=-5))


def _write(db: Database, user_id: int, ratings: list[tuple[int, float, datetime]]) -> None:
    with db.session() as session:
        for movie_id, stars, ts in ratings:
            session.add(Rating(user_id=user_id, movie_id=movie_id, rating=stars, ts=ts))


def _history(db: Database, user_id: int) -> UserHistory:
    with db.connection() as connection:
        history = user_history(connection, user_id)
    assert history is not None
    assert (history.movie_ids.dtype, history.ratings.dtype, history.times.dtype) == (
        np.int64,
        np.float64,
        np.float64,
    )
    return history


def _triples(history: UserHistory) -> list[tuple[int, float, float]]:
    return list(
        zip(
            history.movie_ids.tolist(),
            history.ratings.tolist(),
            history.times.tolist(),
            strict=True,
        )
    )


def test_ratings_written_out_of_time_order_come_back_oldest_first(loaded_db: Database) -> None:
    user_id = new_user(loaded_db)
    # Written out of time order, movie ids in neither time nor reverse order; times with
    # microseconds (one a microsecond short of the next second: no rounding to milliseconds
    # may carry it over), one given in another zone, one before 1970 (negative epoch seconds
    # with a fraction).
    written = [
        (500, 4.5, datetime(2024, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC)),
        (10, 2.0, datetime(2024, 5, 6, 7, 8, 9, 123_456, tzinfo=UTC)),
        (1200, 5.0, datetime(2024, 5, 6, 4, 8, 10, tzinfo=EASTERN)),  # 09:08:10 UTC
        (30, 0.5, datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)),
        (700, 3.0, datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC)),
    ]
    _write(loaded_db, user_id, written)

    history = _history(loaded_db, user_id)

    assert _triples(history) == [
        (700, 3.0, -0.75),
        (30, 0.5, 1_000_000_000.0),
        (10, 2.0, datetime(2024, 5, 6, 7, 8, 9, 123_456, tzinfo=UTC).timestamp()),
        (500, 4.5, datetime(2024, 5, 6, 7, 8, 9, 999_999, tzinfo=UTC).timestamp()),
        (1200, 5.0, datetime(2024, 5, 6, 9, 8, 10, tzinfo=UTC).timestamp()),
    ]
    # Each time exactly the stored one (no rounding to seconds or to 15 digits).
    assert history.times.tolist() == sorted(ts.timestamp() for _, _, ts in written)
    # The newest, as before: the same value as the largest of the times.
    assert history.latest == history.times[-1] == 1_714_986_490.0
    assert history.liked(4.0).tolist() == [500, 1200]


def test_the_times_do_not_depend_on_the_sessions_time_zone(loaded_db: Database) -> None:
    user_id = new_user(loaded_db)
    _write(
        loaded_db,
        user_id,
        [
            (20, 4.0, datetime(2024, 1, 1, 0, 30, tzinfo=UTC)),
            (40, 3.5, datetime(2023, 12, 31, 23, 30, tzinfo=UTC)),
        ],
    )
    expected = [
        (40, 3.5, datetime(2023, 12, 31, 23, 30, tzinfo=UTC).timestamp()),
        (20, 4.0, datetime(2024, 1, 1, 0, 30, tzinfo=UTC).timestamp()),
    ]
    with loaded_db.connection() as connection:
        if connection.dialect.name == "postgresql":  # SQLite's session has no time zone
            connection.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
            assert connection.execute(text("SHOW TIME ZONE")).scalar_one() == "Asia/Kolkata"
        history = user_history(connection, user_id)
    assert history is not None
    assert _triples(history) == expected
    assert history.latest == expected[-1][2]


def test_ratings_of_the_same_time_come_back_by_movie_id(loaded_db: Database) -> None:
    user_id = new_user(loaded_db)
    noon = datetime(2024, 5, 6, 12, 0, 0, 500_000, tzinfo=UTC)
    before, after = noon - timedelta(microseconds=1), noon + timedelta(microseconds=1)
    _write(
        loaded_db,
        user_id,
        [
            (900, 1.0, after),
            (1100, 3.0, noon),
            (20, 4.0, after),
            (300, 5.0, noon),
            (1000, 2.5, before),
            (40, 3.5, noon),
        ],
    )

    history = _history(loaded_db, user_id)

    assert history.movie_ids.tolist() == [1000, 40, 300, 1100, 20, 900]
    assert history.ratings.tolist() == [2.5, 3.5, 5.0, 3.0, 4.0, 1.0]
    assert history.times.tolist() == [
        before.timestamp(),
        *[noon.timestamp()] * 3,
        *[after.timestamp()] * 2,
    ]
    assert history.latest == after.timestamp()


def test_a_user_without_ratings_has_an_empty_history(loaded_db: Database) -> None:
    user_id = new_user(loaded_db)
    with loaded_db.session() as session:
        session.add(DismissedMovie(user_id=user_id, movie_id=30, dismissed_at=datetime.now(UTC)))

    history = _history(loaded_db, user_id)

    assert (history.movie_ids.shape, history.ratings.shape, history.times.shape) == (
        (0,),
        (0,),
        (0,),
    )
    assert history.latest is None
    assert history.dismissed == {30}
    assert history.liked(0.0).tolist() == []
    with loaded_db.connection() as connection:
        assert user_history(connection, user_id + 1000) is None  # no such user


def test_ratings_written_through_the_api_come_back_in_the_order_made(  # type: ignore[no-untyped-def]
    client, loaded_db: Database
) -> None:
    user_id = client.put("/api/v1/user", json={"gender": "F"}).get_json()["user_id"]
    stamped: dict[int, float] = {}
    # Movie ids falling, so that an answer by movie id would be the reverse; 1200 rated again
    # last, which moves it to the end.
    for movie_id, stars in [(1200, 4.0), (700, 2.5), (300, 5.0), (10, 3.0), (1200, 1.5)]:
        response = client.put(
            f"/api/v1/user/{user_id}/rating", json={"movie_id": movie_id, "rating": stars}
        )
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["ts"].endswith("+00:00"), body["ts"]
        stamped[movie_id] = datetime.fromisoformat(body["ts"]).timestamp()
    before_watch = datetime.now(UTC).timestamp()
    watched = client.put(f"/api/v1/user/{user_id}/watched", json={"movie_id": 500})
    assert watched.status_code == 200 and watched.get_json()["watched"]
    after_watch = datetime.now(UTC).timestamp()

    history = _history(loaded_db, user_id)

    assert history.movie_ids.tolist() == [700, 300, 10, 1200, 500]
    assert history.ratings[:4].tolist() == [2.5, 5.0, 3.0, 1.5]
    # The API's own stamps, to the microsecond, and the watch's within its request.
    assert history.times[:4].tolist() == [stamped[m] for m in (700, 300, 10, 1200)]
    assert before_watch <= history.times[4] <= after_watch
    with loaded_db.session() as session:
        stored = session.execute(
            select(Rating.movie_id, Rating.ts).where(Rating.user_id == user_id)
        ).all()
    assert dict(zip(history.movie_ids.tolist(), history.times.tolist(), strict=True)) == {
        movie_id: ts.timestamp() for movie_id, ts in stored
    }
    assert history.latest == history.times[-1]


def _expected_from_csv(ratings: pd.DataFrame) -> dict[int, list[tuple[int, float, float]]]:
    """Each user's ratings as MovieLens' ratings.csv has them, by time then by movie."""
    ordered = ratings.sort_values(["userId", "timestamp", "movieId"])
    return {
        int(user_id): list(
            zip(
                rows["movieId"].tolist(),
                rows["rating"].astype(float).tolist(),
                rows["timestamp"].astype(float).tolist(),
                strict=True,
            )
        )
        for user_id, rows in ordered.groupby("userId", sort=False)
    }


def _assert_histories_are_the_csvs(db: Database, ratings: pd.DataFrame) -> int:
    expected = _expected_from_csv(ratings)
    ties = 0
    with db.connection() as connection:
        for user_id, triples in expected.items():
            history = user_history(connection, user_id)
            assert history is not None
            assert _triples(history) == triples, f"user {user_id}"
            assert history.latest == triples[-1][2]
            ties += len(triples) - len({t for _, _, t in triples})
    return ties


def test_ratings_loaded_from_movielens_come_back_by_their_timestamps(
    db: Database, tmp_path: Path
) -> None:
    folder = make_movielens(tmp_path / "movielens", n_users=8, n_movies=40, density=0.6)
    ratings = pd.read_csv(folder / "ratings.csv")
    # make_movielens stamps each user's ratings in movie id order: shuffle the times within
    # each user, and give some ratings the same second, as MovieLens has many.
    rng = np.random.default_rng(3)
    ratings["timestamp"] = ratings.groupby("userId")["timestamp"].transform(
        lambda stamps: rng.permutation(stamps.to_numpy()) // 3 * 3
    )
    ratings.to_csv(folder / "ratings.csv", index=False)
    load_movielens(db, str(folder), show_progress=False)

    ties = _assert_histories_are_the_csvs(db, ratings)
    assert ties > 10  # the order of the same second was checked


@requires_movielens()
@pytest.mark.movielens
def test_ml_latest_small_histories_are_in_the_order_rated(db: Database) -> None:
    load_movielens(db, str(ML_SMALL), show_progress=False)
    ratings = pd.read_csv(ML_SMALL / "ratings.csv")

    ties = _assert_histories_are_the_csvs(db, ratings)
    assert ties > 1000  # MovieLens often stamps several ratings with the same second
