"""The application factory. Nothing connects or loads at import time or in ``create_app``:
the database and Redis handles connect on first use, in the process that uses them (so each
gunicorn worker gets its own pools after the fork)."""

from __future__ import annotations

from flask import Flask

from movierec.answer_cache import AnswerCache
from movierec.api import create_openapi_app
from movierec.cache import CacheStore
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.logs import configure_logging
from movierec.services.catalogue import MovieCatalogue
from movierec.services.changes import RecentChanges


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = create_openapi_app(__name__)
    app.config["MOVIEREC_SETTINGS"] = settings
    app.json.sort_keys = False  # keep the field order of the serialisers
    configure_logging(settings)

    db, cache = Database(), CacheStore()
    db.init_app(app)
    cache.init_app(app)
    # Movie details kept per process until a load announces a new catalogue: GET movie and
    # every list need them, and a query per request was most of their cost.
    app.extensions["movierec.catalogue"] = MovieCatalogue(db, cache)
    # The users changed lately, read from the database at most once a second: what lets an
    # unchanged user's list be served without reading their ratings.
    app.extensions["movierec.changes"] = RecentChanges(db)
    # Finished answers of published data, per process, under their versions: the same query
    # gets the same bytes until a new version is published, so they are built once.
    app.extensions["movierec.answers"] = AnswerCache()
    # Recommendations answers of unchanged lists, per user: a cache of their own, so that they
    # never push the few top-movies answers out.
    app.extensions["movierec.recommendation_answers"] = AnswerCache(
        settings.recommendation_answers_kept
    )

    from movierec.api import register_api
    from movierec.api.observability import register_observability
    from movierec.web import init_web

    register_observability(app)
    register_api(app)
    init_web(app)
    return app
