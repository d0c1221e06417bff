"""Queries, one module per table. Functions take a Session (or Connection) and return plain
values, model instances or data frames; they never commit (the caller owns the transaction)."""

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session


def read_frame(query: Executable, connection: Connection, **options: Any) -> pd.DataFrame:
    """``pandas.read_sql``, raising SQLAlchemy's own errors: pandas wraps them in its
    DatabaseError, which would hide an unreachable database or a missing table from the
    callers that handle those."""
    try:
        return pd.read_sql(query, connection, **options)
    except pd.errors.DatabaseError as error:
        if isinstance(error.__cause__, SQLAlchemyError):
            raise error.__cause__ from None
        raise


def upsert_insert(session: Session, table: Table):  # type: ignore[no-untyped-def]
    """An INSERT into ``table`` that has ``on_conflict_do_*`` (PostgreSQL's or SQLite's)."""
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)
