"""Queries on ratings."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from movierec.db.models import Rating


def rated_movie_ids(session: Session, user_id: int) -> set[int]:
    """Every movie the user rated or watched (explicitly or implicitly), as of now."""
    return set(session.scalars(select(Rating.movie_id).where(Rating.user_id == user_id)))


def ratings_frame(connection: Connection) -> pd.DataFrame:
    """All ratings (explicit and implicit) as user_id, movie_id, rating, in one query."""
    query = select(Rating.user_id, Rating.movie_id, Rating.rating).order_by(
        Rating.user_id, Rating.movie_id
    )
    return pd.read_sql(query, connection, dtype={"user_id": "int64", "movie_id": "int64"})
