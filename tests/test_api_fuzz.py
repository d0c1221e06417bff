"""Property-based test of the whole API against its own OpenAPI document (schemathesis).

Every operation of /api/v1/openapi.json gets generated valid and invalid requests (wrong types,
out-of-range values, missing fields, odd strings, boundary values); every answer must have a
documented status and content type, a body matching the documented schema, and never be a 500.
ml-latest-small is loaded so that examples and boundary values (user 1, movie 1, ...) reach the
200 paths too.

It runs with API keys configured, twice: authenticated (an admin key, which may do everything:
every operation reaches its 200 path, and schemathesis' ``ignored_auth`` check re-sends the
requests that succeeded without the key and fails unless they are refused) and unauthenticated
(writes and the admin status must answer the documented 401, reads 200).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from conftest import ADMIN_KEY, make_test_app, requires_movielens, with_keys
from movierec.app import create_app
from movierec.cache import CacheStore
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

pytestmark = [requires_movielens(), pytest.mark.slow]

# The document does not depend on the back ends; the requests go to a per-backend app below.
_document_app = create_app(load_settings(DATABASE_URL="sqlite://", REDIS_URL="redis://127.0.0.1:9"))
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _document_app)


@pytest.fixture(params=["authenticated", "unauthenticated"])
def api_client(request, ml_small_app, session_db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """An app with keys over ml-latest-small, with statistics and recommendations published by
    the real jobs so that every operation (watched, top movies, recommendations) can answer
    200; and the headers to send."""
    cache: CacheStore = ml_small_app.extensions["movierec.cache"]
    if cache.current_version("stats") is None:  # once per back end
        refresh_statistics(session_db, cache, settings)
    if cache.current_version("recs") is None:
        refresh_recommendations(session_db, cache, settings)
    headers = {"X-API-Key": ADMIN_KEY} if request.param == "authenticated" else {}
    for app in make_test_app(with_keys(settings, admin_api_keys=(ADMIN_KEY,))):
        yield app, headers


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case, api_client) -> None:  # type: ignore[no-untyped-def]
    app, headers = api_client
    response = case.call_and_validate(
        app=app, headers=headers, excluded_checks=_inexpressible_constraints(case)
    )
    if headers:  # the key went through: never refused
        assert response.status_code not in {401, 403}, response.text


def _inexpressible_constraints(case) -> list:  # type: ignore[no-untyped-def, type-arg]
    """Checks that cannot hold for this case: ``year_min`` after ``year_max`` is a 400 that no
    JSON Schema of single parameters can state, so "valid by the schema" is not valid here."""
    try:
        year_min, year_max = int(case.query["year_min"]), int(case.query["year_max"])
    except (KeyError, TypeError, ValueError):  # absent, or not numbers: a plain 400 case
        return []
    return [positive_data_acceptance] if year_min > year_max else []
