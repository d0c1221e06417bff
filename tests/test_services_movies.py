"""The movie service against the real back ends."""

from __future__ import annotations

import pytest

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.services import movies as service
from movierec.services.catalogue import MovieCatalogue
from movierec.services.errors import NotFound


def test_get_movie(loaded_db: Database, cache: CacheStore) -> None:
    catalogue = MovieCatalogue(loaded_db, cache)
    movie = service.get_movie(catalogue, 20)
    assert movie.movie_id == 20
    assert movie.title.startswith("Movie 20")
    with pytest.raises(NotFound, match="movie 25 not found"):
        service.get_movie(catalogue, 25)
