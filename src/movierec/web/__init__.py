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

from flask import Blueprint, Flask, render_template, request

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
