"""Movies: GET /api/v1/movie/<id>."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas import MovieOut, MoviePath, serialize_movie
from movierec.extensions import get_catalogue
from movierec.services import movies as movies_service

movies = api_blueprint("movies", __name__, "Movies")


@movies.get("/movie/<int:movie_id>", responses={200: MovieOut, **errors(400, 404, 503)})
def get_movie(path: MoviePath):  # type: ignore[no-untyped-def]
    """A movie's details."""
    return respond(serialize_movie(movies_service.get_movie(get_catalogue(), path.movie_id)))
