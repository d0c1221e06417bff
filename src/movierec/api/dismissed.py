"""A user's dismissed movies ("not interested"): GET, PUT and DELETE
/api/v1/user/<id>/dismissed."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.common import LimitQuery, MovieRefBody, UserPath
from movierec.api.schemas.dismissed import (
    DismissalDeletedOut,
    DismissalOut,
    DismissedMovieOut,
    DismissedMoviesOut,
)
from movierec.api.schemas.movies import serialize_movie
from movierec.extensions import get_cache, get_db, get_settings
from movierec.services import dismissed as dismissed_service

dismissed = api_blueprint(
    "dismissed", __name__, "Movies a user is not interested in: never recommended to them"
)


@dismissed.get(
    "/user/<int:user_id>/dismissed",
    responses={200: DismissedMoviesOut, **errors(400, 404, 503, s404="Unknown user.")},
)
def dismissed_movies(path: UserPath, query: LimitQuery):  # type: ignore[no-untyped-def]
    """The movies the user dismissed, most recently dismissed first."""
    limit = query.limit or get_settings().top_n
    found = dismissed_service.dismissed_movies(get_db(), path.user_id, limit)
    return respond(
        DismissedMoviesOut(
            limit=limit,
            user_id=path.user_id,
            dismissed=[
                DismissedMovieOut(dismissed_at=item.dismissed_at, movie=serialize_movie(item.movie))
                for item in found
            ],
        )
    )


@dismissed.put(
    "/user/<int:user_id>/dismissed",
    responses={
        200: DismissalOut,
        201: DismissalOut,
        **errors(400, 404, 413, 415, 503, s404="Unknown user or movie."),
    },
)
def dismiss(path: UserPath, body: MovieRefBody):  # type: ignore[no-untyped-def]
    """Dismiss a movie: "not interested".

    It is never recommended to the user again (until un-dismissed). Not a rating: it trains
    nothing and is not in the user's ratings. 201 when dismissed now; 200 with the first
    dismissal's time when the user had dismissed it already (idempotent)."""
    found = dismissed_service.dismiss(get_db(), get_cache(), path.user_id, body.movie_id)
    out = DismissalOut(
        dismissed_at=found.dismissed_at, movie_id=found.movie_id, user_id=found.user_id
    )
    return respond(out, status=201 if found.created else 200)


@dismissed.delete(
    "/user/<int:user_id>/dismissed",
    responses={
        200: DismissalDeletedOut,
        **errors(
            400,
            404,
            413,
            415,
            503,
            s404="Unknown user or movie, or the user has not dismissed it.",
        ),
    },
)
def undismiss(path: UserPath, body: MovieRefBody):  # type: ignore[no-untyped-def]
    """Un-dismiss a movie: it may be recommended to the user again."""
    dismissed_service.undismiss(get_db(), get_cache(), path.user_id, body.movie_id)
    return respond(DismissalDeletedOut(movie_id=body.movie_id, user_id=path.user_id))
