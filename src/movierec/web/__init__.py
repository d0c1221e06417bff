"""The web page: a face for people over the same API, so that someone can try the service
without writing requests by hand.

Server-rendered templates give every page its structure (headings, labelled forms, navigation)
and a small vanilla script (``static/movierec.js``, no build step, nothing from a CDN) fills
them from the JSON API and sends the writes, so the page shows exactly what the API answers and
needs no logic of its own: no route here touches the database or Redis. Writes carry the API
key the person entered (kept in that browser tab's ``sessionStorage``), never one embedded in
the page.
"""

from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from movierec.api.errors import error_response
from movierec.api.schemas.catalogue import MAX_MOVIE_YEAR, MIN_MOVIE_YEAR
from movierec.services.movie_filters import GENRES

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)

# Half stars, best first, as the rating menus offer them.
STAR_CHOICES = [value / 2 for value in range(10, 0, -1)]


@web.get("/")
def home() -> str:
    return render_template("web/home.html")


@web.get("/users/<int:user_id>")
def user_page(user_id: int) -> str:
    return render_template("web/user.html", user_id=user_id)


@web.get("/movies/<int:movie_id>")
def movie_page(movie_id: int) -> str:
    return render_template("web/movie.html", movie_id=movie_id)


@web.get("/movies/new")
def new_movie_page() -> str:
    return render_template("web/new_movie.html")


# The API names one movie /api/v1/movie/<id>, so people type /movie/<id> for its page too. A
# browser (it asks for HTML first) is sent to the page; any other client gets the JSON 404 it
# would get for an unknown route, saying where the API and the page are.
def _to_page(endpoint: str, api_path: str, **ids: int) -> Response:
    page = url_for(endpoint, **ids)
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = redirect(page, 301)
    else:
        response, _ = error_response(
            404,
            f"no such route: {request.method} {request.path}; the API answers at "
            f"{request.script_root}/api/v1{api_path}, the page is {page}",
        )
        response.status_code = 404
    response.vary.add("Accept")  # one address, two answers: caches must keep them apart
    return response


@web.get("/user/<int:user_id>")
def user_page_alias(user_id: int) -> Response:
    return _to_page("web.user_page", f"/user/{user_id}", user_id=user_id)


@web.get("/movie/<int:movie_id>")
def movie_page_alias(movie_id: int) -> Response:
    return _to_page("web.movie_page", f"/movie/{movie_id}", movie_id=movie_id)


@web.get("/top")
def top_page() -> str:
    return render_template("web/top.html")


@web.get("/search")
def search_page() -> str:
    return render_template("web/search.html", q=request.args.get("q", "").strip()[:200])


@web.get("/operator")
def operator_page() -> str:
    return render_template("web/operator.html")


@web.context_processor
def page_context() -> dict[str, object]:
    return {
        "star_choices": STAR_CHOICES,
        "genres": GENRES,
        "min_year": MIN_MOVIE_YEAR,
        "max_year": MAX_MOVIE_YEAR,
    }


def init_web(app: Flask) -> None:
    app.register_blueprint(web)
