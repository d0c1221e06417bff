"""Queries, one module per table. Functions take a Session (or Connection) and return plain
values, model instances or data frames; they never commit (the caller owns the transaction)."""

from typing import Any

import pandas as pd
from sqlalchemy import Connection, Executable
from sqlalchemy.exc import SQLAlchemyError


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
