"""Movie look-ups."""

from __future__ import annotations

from movierec.db.repositories.movies import MovieDetails
from movierec.services.catalogue import MovieCatalogue


def get_movie(catalogue: MovieCatalogue, movie_id: int) -> MovieDetails:
    """A movie's details (from the process's catalogue copy), or ``NotFound``."""
    return catalogue.get_movie(movie_id)
