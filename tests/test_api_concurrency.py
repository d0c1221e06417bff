"""Many clients writing ratings at once through the app: no lost write, no duplicate row."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from movierec.db import Database
from movierec.db.models import Rating

THREADS = 12
MOVIES = list(range(10, 210, 10))  # 20 movies of the synthetic data set


def _run_together(app, work: Callable) -> list[int]:  # type: ignore[no-untyped-def]
    """Run ``work(client, index)`` in THREADS threads started at the same instant; every HTTP
    status they saw."""
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        try:
            seen = work(client, index)
        except BaseException as error:  # surfaced in the main thread below
            errors.append(error)
            return
        with lock:
            statuses.extend(seen)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def _rows(db: Database, user_ids: list[int]) -> list[tuple[int, int, float, bool]]:
    with db.session() as session:
        return session.execute(
            select(Rating.user_id, Rating.movie_id, Rating.rating, Rating.is_implicit)
            .where(Rating.user_id.in_(user_ids), Rating.movie_id.in_(MOVIES))
            .order_by(Rating.user_id, Rating.movie_id)
        ).all()


def _clear(db: Database, user_ids: list[int]) -> None:
    with db.session() as session:
        session.execute(Rating.__table__.delete().where(Rating.user_id.in_(user_ids)))


def test_each_client_rating_every_movie_loses_nothing(app, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    users = list(range(1, THREADS + 1))
    _clear(loaded_db, users)

    def work(client, index: int) -> list[int]:  # type: ignore[no-untyped-def]
        user = users[index]
        return [
            client.put(
                f"/api/v1/user/{user}/rating",
                json={"movie_id": movie, "rating": (index + position) % 10 / 2 + 0.5},
            ).status_code
            for position, movie in enumerate(MOVIES)
        ]

    statuses = _run_together(app, work)
    assert statuses == [200] * THREADS * len(MOVIES)
    expected = [
        (user, movie, (index + position) % 10 / 2 + 0.5, False)
        for index, user in enumerate(users)
        for position, movie in enumerate(MOVIES)
    ]
    assert _rows(loaded_db, users) == expected


def test_clients_fighting_over_the_same_ratings_leave_one_row_each(
    app, loaded_db: Database
) -> None:  # type: ignore[no-untyped-def]
    users = [1, 2]
    _clear(loaded_db, users)
    values = {index: (index % 10) / 2 + 0.5 for index in range(THREADS)}

    def work(client, index: int) -> list[int]:  # type: ignore[no-untyped-def]
        seen = []
        for movie in MOVIES:
            for user in users:
                if index % 3 == 0:  # a third of the clients only mark the movies watched
                    response = client.put(f"/api/v1/user/{user}/watched", json={"movie_id": movie})
                else:
                    response = client.put(
                        f"/api/v1/user/{user}/rating",
                        json={"movie_id": movie, "rating": values[index]},
                    )
                seen.append(response.status_code)
        return seen

    statuses = _run_together(app, work)
    assert statuses == [200] * THREADS * len(MOVIES) * len(users)
    rows = _rows(loaded_db, users)
    assert [(user, movie) for user, movie, _, _ in rows] == [
        (user, movie) for user in users for movie in MOVIES
    ]
    rated_values = {value for index, value in values.items() if index % 3}
    for _user, _movie, rating, is_implicit in rows:
        # Some client rated each pair explicitly, and a watch never overrides that.
        assert not is_implicit
        assert rating in rated_values
    with loaded_db.session() as session:
        duplicates = session.scalar(
            select(func.count())
            .select_from(Rating)
            .group_by(Rating.user_id, Rating.movie_id)
            .having(func.count() > 1)
        )
    assert duplicates is None
