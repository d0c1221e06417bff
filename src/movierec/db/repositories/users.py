"""Queries on users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, exists, select, union_all, update
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


def delete_user(session: Session, user_id: int, deleted_at: datetime | None = None) -> bool:
    """Delete a user (their ratings go with them: ON DELETE CASCADE); False if there was none.
    A deleted user leaves a tombstone, so a re-load of the data set does not bring them back;
    ``deleted_at`` (default: the database's clock) is when, for ``changed_since``."""
    result = session.execute(
        delete(User).where(User.user_id == user_id).execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    tombstone = DeletedUser(user_id=user_id)
    if deleted_at is not None:  # else the server default
        tombstone.deleted_at = deleted_at
    session.add(tombstone)
    return True


# Built once, run as SQLAlchemy Core: an ORM update composed per write, with its session
# synchronisation, was a third of the CPU of PUT rating.
_USERS = User.__table__
_MARK_CHANGED = (
    update(_USERS)
    .where(_USERS.c.user_id == bindparam("changed_user"))
    .values(changed_at=bindparam("changed_when"))
)


def mark_changed(session: Session, user_id: int, at: datetime) -> None:
    """Note in the write's transaction that the user changed what they may be recommended."""
    session.execute(_MARK_CHANGED, {"changed_user": user_id, "changed_when": at})


def changed_since(connection: Connection, since: datetime) -> list[tuple[int, datetime]]:
    """(user id, when) of every user changed (``mark_changed``) or deleted after ``since``,
    from the two indexed timestamps."""
    changed = select(User.user_id, User.changed_at.label("at")).where(User.changed_at > since)
    deleted = select(DeletedUser.user_id, DeletedUser.deleted_at.label("at")).where(
        DeletedUser.deleted_at > since
    )
    return [(row.user_id, row.at) for row in connection.execute(union_all(changed, deleted))]
