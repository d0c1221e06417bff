"""Movie look-ups, and the movies similar to one (the published model's movie space)."""

from __future__ import annotations

from dataclasses import dataclass

from movierec.cache import CacheStore
from movierec.db.repositories.movies import MovieDetails
from movierec.services.catalogue import MovieCatalogue


def get_movie(catalogue: MovieCatalogue, movie_id: int) -> MovieDetails:
    """A movie's details (from the process's catalogue copy), or ``NotFound``."""
    return catalogue.get_movie(movie_id)


@dataclass(frozen=True)
class SimilarMovie:
    movie: MovieDetails
    score: float  # cosine similarity in the ranking model's movie space


def similar_movies(
    catalogue: MovieCatalogue, cache: CacheStore, movie_id: int, limit: int
) -> list[SimilarMovie]:
    """The ``limit`` movies closest to ``movie_id`` by cosine in the current model's movie
    factors, best first. Raises ``NotFound`` for an unknown movie; [] for a movie the model has
    not seen (no ratings when it was trained) or when no model is published yet."""
    catalogue.get_movie(movie_id)  # NotFound for an unknown movie
    model = cache.serving_model()
    if model is None:
        return []
    # A few more than asked, in case some left the catalogue since the model was trained.
    ids, scores = model.similar(movie_id, limit + 10)
    found = catalogue.movies_by_ids(ids.tolist())
    similar = [
        SimilarMovie(found[m], float(score))
        for m, score in zip(ids.tolist(), scores.tolist(), strict=True)
        if m in found
    ]
    return similar[:limit]
