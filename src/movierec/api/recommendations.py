"""Recommendations and top movies: GET /api/v1/user/<id>/recommendations,
GET /api/v1/movies/top."""

from __future__ import annotations

from typing import Any

import orjson

from movierec import metrics
from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond_json
from movierec.api.schemas.common import UserPath
from movierec.api.schemas.movies import movie_fields
from movierec.api.schemas.recommendations import (
    RecommendationsOut,
    RecommendationsQuery,
    TopMoviesOut,
    TopMoviesQuery,
)
from movierec.extensions import (
    get_answers,
    get_cache,
    get_catalogue,
    get_changes,
    get_db,
    get_impressions,
    get_recommendation_answers,
    get_settings,
)
from movierec.services import impressions as impressions_service
from movierec.services import recommendations as recommendations_service
from movierec.services import top_movies as top_movies_service
from movierec.services.recommendations import Recommendation

UNAVAILABLE = (
    "The database is unavailable (without Redis, or without statistics in it, the top movies "
    "come from the database): retry later, after the Retry-After header's seconds."
)

recommendations = api_blueprint("recommendations", __name__, "Recommendations and top movies")


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
    the rating model (SVD) predicts, minus every movie the user has rated or watched since;
    a user who rated or watched something since the refresh (or a new one) gets a list
    computed now from their current ratings (``source: fold_in``); a user without ratings gets
    the top movies. Never a movie the user dismissed. Filled up from the top movies: always
    ``limit`` movies while the catalogue has that many the user has not rated or dismissed
    (and that pass the genre and year filters, which apply before ``limit`` and ``offset``).
    Without statistics in Redis, or with Redis down, the top movies are computed from the
    database."""
    settings = get_settings()
    limit, movie_filter = query.limit or settings.top_n, query.movie_filter()
    cache, changes = get_cache(), get_changes()
    read = recommendations_service.read_list(cache, path.user_id)
    # An unchanged list's page is the same bytes until the next refresh or load: kept.
    key = read.answer_key(changes, path.user_id, query.offset, limit, movie_filter)
    kept = None if key is None else get_recommendation_answers().get(key)
    sink = get_impressions()
    if kept is not None:
        metrics.count_recommendation(recommendations_service.SOURCE_MODEL)
        body, shown = kept
        sink.record_answer(shown)
        return respond_json(body)
    found = recommendations_service.recommend(
        get_db(),
        cache,
        get_catalogue(),
        changes,
        path.user_id,
        limit,
        settings.stat_movie_users_lower_limit,
        offset=query.offset,
        movie_filter=movie_filter,
        read=read,
    )
    shown = impressions_service.shown_answer(
        read,
        path.user_id,
        [item.movie.movie_id for item in found.items],
        query.offset,
        found.source,
        settings.ranker,
    )
    answer = {
        "user_id": path.user_id,
        "limit": limit,
        "offset": query.offset,
        "recommendations": [_recommended(item) for item in found.items],
        "source": found.source,
        "backfilled": found.backfilled,
        "impression_id": sink.impression_id(shown),
    }
    body = recommendations_json(answer)
    if key is not None and found.as_published:
        # The answer and what it shows: the same bytes are the same impression.
        get_recommendation_answers().put(key, (body, shown))
    sink.record_answer(shown)
    return respond_json(body)


def recommendations_json(answer: dict[str, Any]) -> str:
    """A ``RecommendationsOut``'s fields (plain values, in its field order, "because" and
    "because_kind" left out where there is no reason, "avg_rating" and "votes" but for a movie
    from the top list) as the JSON pydantic writes of them, ``exclude_unset``.

    Written by orjson: pydantic's validation and serialisation of twenty movies was a fifth of
    a cached answer's CPU, and the values are the service's own, of the model's
    types. The two write the same bytes, floats included, where a float is written without an
    exponent by both; each library decides for itself where exponents start (and may change
    its mind in a release), so an answer with a score or stars outside the range where both
    surely write plain decimals is written by pydantic. Checked on the floats, not on the
    written bytes: a search of the 5 KB answer cost as much as writing it.
    tests/test_api_serving.py compares the two."""
    if all(
        _plain_decimal(movie["score"])
        and _plain_decimal(movie["predicted_rating"])
        and _plain_decimal(movie.get("avg_rating"))
        for movie in answer["recommendations"]
    ):
        return orjson.dumps(answer).decode()
    validated = RecommendationsOut.model_validate(answer)
    return validated.model_dump_json(exclude_unset=True)  # "because" omitted where unset


def _plain_decimal(value: float | None) -> bool:
    """Whether every JSON writer writes ``value`` without an exponent (None: null)."""
    return value is None or value == 0 or 1e-4 <= abs(value) < 1e15


def _recommended(item: Recommendation) -> dict[str, Any]:
    """A ``RecommendedMovieOut``'s fields, in its order."""
    fields = movie_fields(item.movie)
    fields["predicted_rating"] = item.predicted_rating
    fields["score"] = item.score
    fields["new"] = item.new
    if item.because:  # left out otherwise, as the answer omits it, and its kind with it
        fields["because"] = [{"movie_id": m.movie_id, "title": m.title} for m in item.because]
        fields["because_kind"] = item.because_kind
    if item.votes is not None:  # a movie from the top list: what it was chosen by
        fields["avg_rating"] = item.avg_rating
        fields["votes"] = item.votes
    return fields


@recommendations.get(
    "/movies/top",
    responses={
        200: TopMoviesOut,
        **errors(400, 503, s503=UNAVAILABLE),
    },
)
def get_top_movies(query: TopMoviesQuery):  # type: ignore[no-untyped-def]
    """The most popular movies: most users who rated or watched them first, then the highest
    average rating (as of the last statistics refresh; ``source`` "cache"). Without statistics
    in Redis, or with Redis down, the same order computed from the database now (``source``
    "database"). The genre and year filters apply before ``limit`` and ``offset``."""
    movie_filter = query.movie_filter()
    # The same query on the same published statistics and catalogue: the same bytes, kept.
    versions = top_movies_service.published_answer_versions(get_cache())
    key = None if versions is None else (versions, query.limit, query.offset, movie_filter)
    kept = None if key is None else get_answers().get(key)
    if kept is not None:
        return respond_json(kept)
    top = top_movies_service.top_movies(
        get_db(),
        get_cache(),
        get_catalogue(),
        query.limit,
        get_settings().stat_movie_users_lower_limit,
        offset=query.offset,
        movie_filter=movie_filter,
        catalogue_version=None if versions is None else versions[1],
    )
    # One validation of the whole answer; each movie is read from its attributes (MovieOut).
    entries = [
        {
            **movie_fields(entry.movie),
            "avg_rating": entry.avg_rating,
            "votes": entry.votes,
            "movie": entry.movie,
        }
        for entry in top.entries
    ]
    body = TopMoviesOut.model_validate(
        {"source": top.source, "limit": query.limit, "offset": query.offset, "top_movies": entries}
    )
    answer = body.model_dump_json()
    if key is not None and top.source == top_movies_service.CACHE:
        get_answers().put(key, answer)
    return respond_json(answer)
