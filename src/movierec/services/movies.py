"""Movie look-ups."""

from __future__ import annotations

from movierec.db import Database
from movierec.db.models import Movie
from movierec.db.repositories import movies as movies_repo
from movierec.services.errors import NotFound


def get_movie(db: Database, movie_id: int) -> Movie:
    with db.session() as session:
        movie = movies_repo.get_movie(session, movie_id)
    if movie is None:
        raise NotFound(f"movie {movie_id} not found")
    return movie
