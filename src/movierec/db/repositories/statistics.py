"""Per-movie rating aggregates, computed by the database in one pass."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from movierec.db.models import Movie, Rating
from movierec.db.repositories import read_frame


def movie_aggregates(connection: Connection) -> pd.DataFrame:
    """Every movie of the catalogue (retired ones left out: they are never in the top movies
    again) with its number of ratings (explicit or implicit) and mean rating: movie_id, votes
    (0 when nobody rated it), avg_rating (NaN then).

    The ratings are grouped first (the (movie_id, rating) index covers that query), so only
    one row per movie leaves the database, whatever the number of ratings.
    """
    per_movie = (
        select(
            Rating.movie_id.label("movie_id"),
            func.count().label("votes"),
            func.avg(Rating.rating).label("avg_rating"),
        )
        .group_by(Rating.movie_id)
        .subquery()
    )
    query = (
        select(
            Movie.movie_id,
            func.coalesce(per_movie.c.votes, 0).label("votes"),
            per_movie.c.avg_rating,
        )
        .outerjoin(per_movie, per_movie.c.movie_id == Movie.movie_id)
        .where(Movie.retired_at.is_(None))
        .order_by(Movie.movie_id)
    )
    frame = read_frame(query, connection)
    return frame.astype({"movie_id": "int64", "votes": "int64", "avg_rating": "float64"})


def movie_votes_and_average(session: Session, movie_id: int) -> tuple[int, float | None]:
    """One movie's number of ratings (explicit or implicit) and mean rating, as of now (the
    (movie_id, rating) index answers it): (0, None) for a movie nobody rated."""
    votes, average = session.execute(
        select(func.count(), func.avg(Rating.rating)).where(Rating.movie_id == movie_id)
    ).one()
    return int(votes), None if average is None else float(average)
