"""What operators see of the web tier: a request id on every answer, the request series, and
``GET /metrics`` (Prometheus text format; docs/deploy.md lists the series)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import redis
from flask import Response, g, request
from flask_openapi3 import OpenAPI
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from movierec import metrics
from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.cache import CacheStore
from movierec.db import Database
from movierec.extensions import get_cache, get_db
from movierec.jobs.refresh import RECOMMENDATIONS_JOB, STATISTICS_JOB
from movierec.services.engine_status import engine_status

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128
# Enough for UUIDs, nginx's $request_id and the usual trace ids; nothing that could break a
# header or a log line (no blanks, quotes, commas, semicolons or control characters).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._~:/+=@-]+")
# Any other method (clients may send any token) is counted as "other", to bound the series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_from(header: str | None) -> str:
    """The client's request id, trimmed of surrounding blanks and cut to 128 characters, when
    it is made of safe characters; otherwise (absent, empty, unsafe) a new one."""
    if header:
        candidate = header.strip()[:MAX_REQUEST_ID_LENGTH]
        if _SAFE_REQUEST_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


def _start_request() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish_request(response: Response) -> Response:
    # after_request runs for every answer Flask makes, error handlers' answers included.
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or request_id_from(None)
    started = g.get("request_started", time.perf_counter())
    metrics.observe_request(
        request.endpoint or "unmatched",  # no route matched (404, 405): one series for all
        request.method if request.method in _METHODS else "other",
        response.status_code,
        time.perf_counter() - started,
    )
    return response


class EngineStateCollector(Collector):
    """Series read from the engine's state at scrape time (the admin status service), so any
    worker answers with the same current values: model age, published users and movies,
    refreshes running now."""

    def __init__(self, db: Database, cache: CacheStore) -> None:
        self.db = db
        self.cache = cache

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            "age": GaugeMetricFamily(
                "movierec_model_age_seconds",
                "Seconds since the model whose recommendations are served finished training.",
            ),
            "users": GaugeMetricFamily(
                "movierec_published_users",
                "Users with a published recommendations list in the current version.",
            ),
            "movies": GaugeMetricFamily(
                "movierec_published_movies", "Movies the current model ranks."
            ),
            "running": GaugeMetricFamily(
                "movierec_refresh_running",
                "1 while a refresh of the job holds its lock (in any scheduler), else 0.",
                labels=["job"],
            ),
        }

    def describe(self) -> Iterator[Metric]:
        yield from self._families().values()

    def collect(self) -> Iterator[Metric]:
        try:
            status = engine_status(self.db, self.cache)
        except (redis.RedisError, SQLAlchemyError) as error:
            # /metrics must still answer (with the request series) when a back end is down.
            reason = str(error).splitlines()[0]
            log.warning("metrics: engine state unavailable: %s: %s", type(error).__name__, reason)
            return
        families = self._families()
        model = status.current_model
        if model is not None and model.finished_at is not None:
            age = (datetime.now(UTC) - model.finished_at).total_seconds()
            families["age"].add_metric([], max(0.0, age))
        if status.recommendations_version is not None:
            families["users"].add_metric([], status.users_with_recommendations)
        if model is not None and model.n_movies is not None:
            families["movies"].add_metric([], model.n_movies)
        for job, holder in (
            (RECOMMENDATIONS_JOB, status.running_recommendations),
            (STATISTICS_JOB, status.running_statistics),
        ):
            families["running"].add_metric([job], 0 if holder is None else 1)
        yield from families.values()


monitoring = api_blueprint("monitoring", __name__, "Prometheus metrics", url_prefix="")


@monitoring.get(
    "/metrics",
    responses={
        200: {
            "description": "Prometheus text format (OpenMetrics when the Accept header asks).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **errors(),
    },
)
def get_metrics() -> Response:
    """Prometheus metrics of the web tier and the engine.

    This process's series (under ``movierec serve``: summed over all its workers) and the
    engine's state read now; docs/deploy.md, "Monitoring", lists them."""
    body, content_type = metrics.exposition(
        request.headers.get("Accept"), [EngineStateCollector(get_db(), get_cache())]
    )
    return Response(body, content_type=content_type)


def register_observability(app: OpenAPI) -> None:
    # First of all before_request functions, so even an answer another one short-circuits
    # (a 415 from the body check, say) has an id and is timed.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    app.register_api(monitoring)
