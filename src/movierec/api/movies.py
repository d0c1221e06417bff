"""Movies: GET /api/v1/movie/<id>, its statistics and similar movies; title search."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.catalogue import MovieDetailOut
from movierec.api.schemas.common import MoviePath
from movierec.api.schemas.movies import (
    FoundMovieOut,
    MovieSearchOut,
    MovieSearchQuery,
    MovieStatisticsOut,
    SimilarMovieOut,
    SimilarMoviesOut,
    SimilarQuery,
    movie_fields,
)
from movierec.db.repositories.movies import MovieDetails
from movierec.extensions import get_cache, get_catalogue, get_db, get_settings
from movierec.services import movies as movies_service

movies = api_blueprint("movies", __name__, "Movies")


def movie_detail(movie: MovieDetails) -> MovieDetailOut:
    """A movie as its own page shows it: its fields, content, whether it is retired or new."""
    return MovieDetailOut(
        **movie_fields(movie),
        collection=movie.collection,
        keywords=movie.keywords,
        retired=movie.retired,
        new=movies_service.is_new(get_cache(), movie.movie_id),
    )


@movies.get("/movie/<int:movie_id>", responses={200: MovieDetailOut, **errors(400, 404, 503)})
def get_movie(path: MoviePath):  # type: ignore[no-untyped-def]
    """A movie's details: its content (description, collection, keywords), whether it is
    retired, and whether it is new (too few ratings at the last refresh)."""
    return respond(movie_detail(movies_service.get_movie(get_catalogue(), path.movie_id)))


@movies.get(
    "/movie/<int:movie_id>/similar",
    responses={200: SimilarMoviesOut, **errors(400, 404, 503)},
)
def get_similar_movies(path: MoviePath, query: SimilarQuery):  # type: ignore[no-untyped-def]
    """The movies most similar to this one in the ranking model's movie factors (as of the last
    refresh), best first, with the similarity as ``score``: the cosine, shrunk towards 0 for
    movies few users rated (times ``votes / (votes + STAT_MOVIE_USERS_LOWER_LIMIT)``), so a
    film with one rating does not outrank well-known ones on the strength of one person's
    taste. An empty list for a movie the model has not seen (nobody had rated it) or before the
    first refresh."""
    similar = movies_service.similar_movies(
        get_catalogue(), get_cache(), path.movie_id, query.limit,
        get_settings().stat_movie_users_lower_limit,
    )  # fmt: skip
    return respond(
        SimilarMoviesOut(
            movie_id=path.movie_id,
            limit=query.limit,
            similar=[
                SimilarMovieOut(**movie_fields(entry.movie), score=entry.score, votes=entry.votes)
                for entry in similar
            ],
        )
    )


@movies.get(
    "/movie/<int:movie_id>/statistics",
    responses={200: MovieStatisticsOut, **errors(400, 404, 503)},
)
def get_movie_statistics(path: MoviePath):  # type: ignore[no-untyped-def]
    """How many users rated or watched the movie, and its average rating: as the last
    statistics refresh published them, else counted by the database now."""
    stats = movies_service.movie_statistics(
        get_catalogue(),
        get_cache(),
        get_db(),
        path.movie_id,
        get_settings().stat_movie_users_lower_limit,
    )
    return respond(
        MovieStatisticsOut(
            movie_id=stats.movie_id,
            votes=stats.votes,
            avg_rating=stats.avg_rating,
            source=stats.source,
        )
    )


@movies.get("/movies/search", responses={200: MovieSearchOut, **errors(400, 503)})
def search_movies(query: MovieSearchQuery):  # type: ignore[no-untyped-def]
    """Movies whose title holds every word of ``q`` (any case, any order; a word of four digits
    may be the release year instead): the title that is ``q`` first (a leading or trailing
    "The", "A" or "An" and the year aside: ``terminator`` finds "The Terminator" first), then
    titles starting with ``q``, then the others; the most voted first within each."""
    limit = query.limit or get_settings().top_n
    found = movies_service.search_movies(get_catalogue(), get_cache(), get_db(), query.q, limit)
    return respond(
        MovieSearchOut(
            q=query.q,
            limit=limit,
            movies=[
                FoundMovieOut(**movie_fields(entry.movie), votes=entry.votes) for entry in found
            ],
        )
    )
