"""Queries on users."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from movierec.db.models import DeletedUser, User


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def user_exists(session: Session, user_id: int) -> bool:
    return bool(session.scalar(select(exists().where(User.user_id == user_id))))


def create_user(session: Session, gender: str | None, year_of_birth: int | None) -> User:
    """A new user; the database assigns the id (after the highest existing one)."""
    user = User(gender=gender, year_of_birth=year_of_birth)
    session.add(user)
    session.flush()
    return user


def delete_user(session: Session, user_id: int) -> bool:
    """Delete a user (their ratings go with them: ON DELETE CASCADE); False if there was none.
    A deleted user leaves a tombstone, so a re-load of the data set does not bring them back."""
    result = session.execute(
        delete(User).where(User.user_id == user_id).execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    session.add(DeletedUser(user_id=user_id))
    return True
