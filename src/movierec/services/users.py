"""Users: look up, create, delete."""

from __future__ import annotations

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import User
from movierec.db.repositories import users as users_repo
from movierec.services.changes import announce_change, change_time
from movierec.services.errors import NotFound


def get_user(db: Database, user_id: int) -> User:
    with db.session() as session:
        user = users_repo.get_user(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def create_user(db: Database, gender: str | None, year_of_birth: int | None) -> User:
    """A new user, with the next id after the highest one in use."""
    with db.session() as session:
        return users_repo.create_user(session, gender, year_of_birth)


def delete_user(db: Database, cache: CacheStore, user_id: int) -> None:
    """Delete a user, their ratings and their cached recommendations.

    The cached list is dropped before the database commits: if Redis is down the deletion is
    rolled back (and the caller answers 503), so a deleted user never keeps a cached list. A
    refresh under way may publish one again: the deletion marks the user changed
    (``services.changes``), so that list is never served.
    """
    with db.session() as session:
        if not users_repo.delete_user(session, user_id, change_time()):
            raise NotFound(f"user {user_id} not found")
        cache.forget_user(user_id)
    announce_change(cache, user_id)
