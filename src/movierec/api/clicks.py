"""Clicks on recommended movies: POST /api/v1/user/<id>/clicked."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.common import UserPath
from movierec.api.schemas.impressions import ClickBody, ClickOut
from movierec.extensions import get_db, get_impressions
from movierec.services import impressions as impressions_service

clicks = api_blueprint(
    "clicks", __name__, "What users open of their recommendations (online metrics)"
)


@clicks.post(
    "/user/<int:user_id>/clicked",
    responses={
        202: ClickOut,
        **errors(400, 404, 413, 415, s404="Unknown user or movie."),
    },
)
def clicked(path: UserPath, body: ClickBody):  # type: ignore[no-untyped-def]
    """The user opened a recommended movie.

    Counted for the answer that showed it (``impression_id``, else the latest answer that
    showed the movie to the user) in the online metrics; the same click sent twice counts once.
    Recorded even while the database or Redis is down (then an unknown user or movie is found
    out later and the click dropped). 202: recorded, counted within seconds."""
    recorded = impressions_service.click(
        get_db(), get_impressions(), path.user_id, body.movie_id, body.impression_id
    )
    out = ClickOut(
        user_id=path.user_id,
        movie_id=body.movie_id,
        impression_id=body.impression_id,
        recorded=recorded,
    )
    return respond(out, status=202)
