"""Movies: GET /api/v1/movie/<id>, GET /api/v1/movie/<id>/similar."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.engine_schemas import SimilarMovieOut, SimilarMoviesOut, SimilarQuery
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas import MovieOut, MoviePath, movie_fields, serialize_movie
from movierec.extensions import get_cache, get_catalogue
from movierec.services import movies as movies_service

movies = api_blueprint("movies", __name__, "Movies")


@movies.get("/movie/<int:movie_id>", responses={200: MovieOut, **errors(400, 404, 503)})
def get_movie(path: MoviePath):  # type: ignore[no-untyped-def]
    """A movie's details."""
    return respond(serialize_movie(movies_service.get_movie(get_catalogue(), path.movie_id)))


@movies.get(
    "/movie/<int:movie_id>/similar",
    responses={200: SimilarMoviesOut, **errors(400, 404, 503)},
)
def get_similar_movies(path: MoviePath, query: SimilarQuery):  # type: ignore[no-untyped-def]
    """The movies most similar to this one: closest by cosine in the ranking model's movie
    factors (as of the last refresh), best first, with the similarity as ``score``. An empty
    list for a movie the model has not seen (nobody had rated it) or before the first refresh."""
    similar = movies_service.similar_movies(
        get_catalogue(), get_cache(), path.movie_id, query.limit
    )
    return respond(
        SimilarMoviesOut(
            movie_id=path.movie_id,
            similar=[
                SimilarMovieOut(**movie_fields(entry.movie), score=entry.score) for entry in similar
            ],
        )
    )
