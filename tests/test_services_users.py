"""The user services against the real back ends."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import Rating
from movierec.services import users as service
from movierec.services.errors import NotFound


def _ratings_of(db: Database, user_id: int) -> int:
    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(Rating).where(Rating.user_id == user_id)
        )


def test_new_users_continue_after_the_highest_id(loaded_db: Database) -> None:
    first = service.create_user(loaded_db, "F", 1990)
    second = service.create_user(loaded_db, None, None)
    assert (first.user_id, second.user_id) == (61, 62)  # the data set has users 1..60
    fetched = service.get_user(loaded_db, 61)
    assert (fetched.gender, fetched.year_of_birth) == ("F", 1990)


def test_delete_user_takes_ratings_and_cached_recommendations(
    loaded_db: Database, cache: CacheStore
) -> None:
    cache.publish_recommendations([(5, [10, 20]), (6, [30])])
    assert _ratings_of(loaded_db, 5) > 0
    service.delete_user(loaded_db, cache, 5)
    assert _ratings_of(loaded_db, 5) == 0
    assert cache.recommendations_for(5) is None
    assert cache.recommendations_for(6) == [30]
    with pytest.raises(NotFound, match="user 5 not found"):
        service.get_user(loaded_db, 5)
    with pytest.raises(NotFound, match="user 5 not found"):
        service.delete_user(loaded_db, cache, 5)


def test_delete_user_with_redis_down_keeps_the_user(loaded_db: Database) -> None:
    import redis

    unreachable = CacheStore("redis://127.0.0.1:9/0", "movierec-test")
    with pytest.raises(redis.ConnectionError):
        service.delete_user(loaded_db, unreachable, 5)
    assert service.get_user(loaded_db, 5).user_id == 5
    assert _ratings_of(loaded_db, 5) > 0
