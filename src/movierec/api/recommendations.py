"""Recommendations and top movies: GET /api/v1/user/<id>/recommendations,
GET /api/v1/movies/top."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.engine_schemas import (
    RecommendationsOut,
    RecommendationsQuery,
    RecommendedMovieOut,
    TopMovieOut,
    TopMoviesOut,
    TopMoviesQuery,
)
from movierec.api.errors import error_response, errors
from movierec.api.responses import respond
from movierec.api.schemas import UserPath, serialize_movie
from movierec.extensions import get_cache, get_db, get_settings
from movierec.services import recommendations as recommendations_service
from movierec.services.recommendations import NotReady

# Until the first statistics refresh (seconds after the scheduler starts), cold start and
# top movies have nothing to serve: a 503 with Retry-After says "soon", not "broken".
RETRY_AFTER_SECONDS = 30
UNAVAILABLE = (
    "The database or Redis is unavailable, or the movie statistics are not computed yet (the "
    "first refresh is running): retry later, after the Retry-After header's seconds if given."
)

recommendations = api_blueprint("recommendations", __name__, "Recommendations and top movies")


@recommendations.errorhandler(NotReady)
def _not_ready(error: NotReady):  # type: ignore[no-untyped-def]
    response, status = error_response(503, error.message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


@recommendations.get(
    "/user/<int:user_id>/recommendations",
    responses={
        200: RecommendationsOut,
        **errors(400, 404, 503, s503=UNAVAILABLE),
    },
)
def get_recommendations(path: UserPath, query: RecommendationsQuery):  # type: ignore[no-untyped-def]
    """A user's recommendations, best first.

    The list the last refresh ranked for the user (the ranking model, RANKER), with the stars
    the rating model (SVD) predicts, minus every movie the user has rated or watched since,
    filled up from the top movies; a user the last refresh did not know yet gets the top
    movies they have not rated. Never a movie the user dismissed. Always ``limit`` movies while
    the catalogue has that many the user has not rated or dismissed (and that pass the genre
    and year filters, which apply before ``limit`` and ``offset``)."""
    limit = query.limit or get_settings().top_n
    found = recommendations_service.recommend(
        get_db(),
        get_cache(),
        path.user_id,
        limit,
        offset=query.offset,
        movie_filter=query.movie_filter(),
    )
    return respond(
        RecommendationsOut(
            user_id=path.user_id,
            recommendations=[
                RecommendedMovieOut(
                    **serialize_movie(item.movie).model_dump(),
                    predicted_rating=item.predicted_rating,
                    score=item.score,
                )
                for item in found.items
            ],
            source=found.source,
            backfilled=found.backfilled,
        )
    )


@recommendations.get(
    "/movies/top",
    responses={
        200: TopMoviesOut,
        **errors(400, 503, s503=UNAVAILABLE),
    },
)
def get_top_movies(query: TopMoviesQuery):  # type: ignore[no-untyped-def]
    """The most popular movies: most users who rated or watched them first, then the highest
    average rating (as of the last statistics refresh). The genre and year filters apply
    before ``limit`` and ``offset``."""
    top = recommendations_service.top_movies(
        get_db(), get_cache(), query.limit, offset=query.offset, movie_filter=query.movie_filter()
    )
    return respond(
        TopMoviesOut(
            top_movies=[
                TopMovieOut(
                    avg_rating=entry.avg_rating,
                    movie=serialize_movie(entry.movie),
                    votes=entry.votes,
                )
                for entry in top
            ]
        )
    )
