"""Movie look-ups, and the movies similar to one (the published model's movie space)."""

from __future__ import annotations

from dataclasses import dataclass

from movierec.cache import CacheStore
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


@dataclass(frozen=True)
class SimilarMovie:
    movie: Movie
    score: float  # cosine similarity in the ranking model's movie space


def similar_movies(
    db: Database, cache: CacheStore, movie_id: int, limit: int
) -> list[SimilarMovie]:
    """The ``limit`` movies closest to ``movie_id`` by cosine in the current model's movie
    factors, best first. Raises ``NotFound`` for an unknown movie; [] for a movie the model has
    not seen (no ratings when it was trained) or when no model is published yet."""
    with db.session() as session:
        if movies_repo.get_movie(session, movie_id) is None:
            raise NotFound(f"movie {movie_id} not found")
        model = cache.serving_model()
        if model is None:
            return []
        # A few more than asked, in case some left the catalogue since the model was trained.
        ids, scores = model.similar(movie_id, limit + 10)
        found = movies_repo.movies_by_ids(session, ids.tolist())
    similar = [
        SimilarMovie(found[m], float(score))
        for m, score in zip(ids.tolist(), scores.tolist(), strict=True)
        if m in found
    ]
    return similar[:limit]
