"""The catalogue: PUT /api/v1/movie (create), PATCH /api/v1/movie/<id> (change),
DELETE /api/v1/movie/<id> (retire; an admin key). GET is in ``api.movies``."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.movies import movie_detail
from movierec.api.responses import respond
from movierec.api.schemas.catalogue import MovieChangesBody, MovieDetailOut, NewMovieBody
from movierec.api.schemas.common import MoviePath
from movierec.extensions import get_cache, get_catalogue, get_db
from movierec.services import catalogue_edits

catalogue = api_blueprint(
    "catalogue",
    __name__,
    "The catalogue: create, change and retire movies (the movie itself: GET /movie/<id>)",
)

CONFLICT = (
    "Another movie has this title (in any case) and year: the message names it (change that "
    "one, or give this one another title or year)."
)


@catalogue.put(
    "/movie", responses={201: MovieDetailOut, **errors(400, 409, 413, 415, 503, s409=CONFLICT)}
)
def create_movie(body: NewMovieBody):  # type: ignore[no-untyped-def]
    """Add a movie to the catalogue; its id comes after the highest ever used (never one a
    movie had). It reaches the lists at the next refresh, placed by its content (genres,
    year, description, collection, keywords); its similar movies are there at once."""
    movie = catalogue_edits.create_movie(get_db(), get_cache(), get_catalogue(), body.values())
    return respond(movie_detail(movie), status=201)


@catalogue.patch(
    "/movie/<int:movie_id>",
    responses={200: MovieDetailOut, **errors(400, 404, 409, 413, 415, 503, s409=CONFLICT)},
)
def change_movie(path: MoviePath, body: MovieChangesBody):  # type: ignore[no-untyped-def]
    """Change any of a movie's fields (null clears one, but not the title). A re-load of
    MovieLens files leaves the movie as it is now."""
    movie = catalogue_edits.change_movie(
        get_db(), get_cache(), get_catalogue(), path.movie_id, body.values()
    )
    return respond(movie_detail(movie))


@catalogue.delete("/movie/<int:movie_id>", responses={200: MovieDetailOut, **errors(400, 404, 503)})
def retire_movie(path: MoviePath):  # type: ignore[no-untyped-def]
    """Retire a movie (an admin key): it is never recommended, listed in top movies or in
    similar movies again; its ratings are kept (history, and what they taught the models), and
    GET still answers it, with ``"retired": true``. Retiring it again changes nothing."""
    movie = catalogue_edits.retire_movie(get_db(), get_cache(), get_catalogue(), path.movie_id)
    return respond(movie_detail(movie))
