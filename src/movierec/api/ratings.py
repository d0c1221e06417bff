"""A user's ratings: lists, explicit ratings and watched (implicit ratings)."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.common import LimitQuery, MovieRefBody, UserPath
from movierec.api.schemas.movies import serialize_movie
from movierec.api.schemas.ratings import (
    RatedMovieOut,
    RatingBody,
    RatingDeletedOut,
    RatingOut,
    UserRatingsOut,
    WatchedOut,
)
from movierec.extensions import get_cache, get_db, get_settings
from movierec.services import ratings as ratings_service
from movierec.services.ratings import RatedMovie

ratings = api_blueprint("ratings", __name__, "A user's explicit and implicit (watched) ratings")

NOT_FOUND_USER = {"s404": "Unknown user."}
NOT_FOUND_USER_MOVIE = {"s404": "Unknown user or movie."}


def _ratings_page(user_id: int, limit: int, items: list[RatedMovie]):  # type: ignore[no-untyped-def]
    return respond(
        UserRatingsOut(
            limit=limit,
            user_id=user_id,
            ratings=[
                RatedMovieOut(
                    is_implicit=item.is_implicit,
                    movie=serialize_movie(item.movie),
                    rating=item.rating,
                    ts=item.ts,
                )
                for item in items
            ],
        )
    )


@ratings.get(
    "/user/<int:user_id>/ratings/top",
    responses={200: UserRatingsOut, **errors(400, 404, 503, **NOT_FOUND_USER)},
)
def top_ratings(path: UserPath, query: LimitQuery):  # type: ignore[no-untyped-def]
    """The user's ratings, highest first, then newest first."""
    limit = query.limit or get_settings().top_n
    return _ratings_page(
        path.user_id, limit, ratings_service.top_ratings(get_db(), path.user_id, limit)
    )


@ratings.get(
    "/user/<int:user_id>/ratings/latest",
    responses={200: UserRatingsOut, **errors(400, 404, 503, **NOT_FOUND_USER)},
)
def latest_ratings(path: UserPath, query: LimitQuery):  # type: ignore[no-untyped-def]
    """The user's ratings, newest first, then highest first."""
    limit = query.limit or get_settings().top_n
    return _ratings_page(
        path.user_id, limit, ratings_service.latest_ratings(get_db(), path.user_id, limit)
    )


@ratings.put(
    "/user/<int:user_id>/rating",
    responses={200: RatingOut, **errors(400, 404, 413, 415, 503, **NOT_FOUND_USER_MOVIE)},
)
def rate(path: UserPath, body: RatingBody):  # type: ignore[no-untyped-def]
    """Rate a movie.

    0 to 5 stars, rounded to the nearest half star (ties up); replaces an earlier rating of the
    movie, explicit or implicit."""
    record = ratings_service.rate(get_db(), get_cache(), path.user_id, body.movie_id, body.rating)
    return respond(RatingOut.model_validate(record))


@ratings.delete(
    "/user/<int:user_id>/rating",
    responses={
        200: RatingDeletedOut,
        **errors(
            400, 404, 413, 415, 503, s404="Unknown user or movie, or the user has not rated it."
        ),
    },
)
def delete_rating(path: UserPath, body: MovieRefBody):  # type: ignore[no-untyped-def]
    """Remove the user's rating of a movie (explicit or implicit)."""
    ratings_service.delete_rating(get_db(), get_cache(), path.user_id, body.movie_id)
    return respond(RatingDeletedOut(movie_id=body.movie_id, user_id=path.user_id))


@ratings.put(
    "/user/<int:user_id>/watched",
    responses={200: WatchedOut, **errors(400, 404, 413, 415, 503, **NOT_FOUND_USER_MOVIE)},
)
def watch(path: UserPath, body: MovieRefBody):  # type: ignore[no-untyped-def]
    """Mark a movie watched.

    Stores an implicit rating: the movie's current average rounded to the half star (the
    published statistics, else the database's), else the DEFAULT_IMPLICIT_RATING setting for a
    movie without an average. A movie the user already rated keeps its rating."""
    settings = get_settings()
    watched = ratings_service.watch(
        get_db(),
        get_cache(),
        path.user_id,
        body.movie_id,
        settings.default_implicit_rating,
        settings.stat_movie_users_lower_limit,
    )
    return respond(WatchedOut(movie_id=body.movie_id, user_id=path.user_id, watched=watched))


@ratings.delete(
    "/user/<int:user_id>/watched",
    responses={
        200: WatchedOut,
        **errors(
            400,
            404,
            409,
            413,
            415,
            503,
            s409="The user rated the movie explicitly: delete the rating instead.",
            **NOT_FOUND_USER_MOVIE,
        ),
    },
)
def unwatch(path: UserPath, body: MovieRefBody):  # type: ignore[no-untyped-def]
    """Un-mark a watched movie.

    Removes the implicit rating; a movie that was not watched answers watched false too. An
    explicit rating is not removed (409): delete the rating instead."""
    watched = ratings_service.unwatch(get_db(), get_cache(), path.user_id, body.movie_id)
    return respond(WatchedOut(movie_id=body.movie_id, user_id=path.user_id, watched=watched))
