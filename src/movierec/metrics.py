"""The Prometheus series of MovieRec, and the small functions the rest of the code records with.

Every recorded series is defined here, once per process, so that names, labels and help texts
are in one place (docs/deploy.md lists them); the few read from the engine's state at scrape time
are in ``movierec.api.observability``.

Multi-process mode: under ``movierec serve`` every gunicorn worker is a process of its own, so
``movierec serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts; prometheus-client
then keeps each worker's values in memory-mapped files there, and ``/metrics`` (whichever worker
answers it) sums them over every worker, live or gone. The variable must be set before this
module is first imported, which is why only the workers import it, never gunicorn's arbiter. In
a single process (the demo under waitress, the scheduler, tests) the values live in the default
registry.

Label values are bounded on purpose: endpoints are Flask endpoint names (``users.get_user``),
never raw paths, and sources, backends, jobs, steps and outcomes come from fixed sets.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from movierec.config import PROMETHEUS_MULTIPROC_ENV

# The *_created series (when each series was created) are noise here, and multi-process mode
# cannot serve them anyway: both modes show the same series.
disable_created_metrics()

# -- web tier -------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "movierec_http_requests",
    "HTTP requests answered, by Flask endpoint (not path), method and status.",
    ["endpoint", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "movierec_http_request_duration_seconds",
    "Time from a request reaching Flask to its response being ready, by endpoint, method and "
    "status.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Where the movies of a recommendations answer came from.
RECOMMENDATION_SOURCES = ("model", "fold_in", "popular", "database")
RECOMMENDATIONS = Counter(
    "movierec_recommendations",
    "Recommendation lists served, by where they came from: the published model lists (model), "
    "fold-in of ratings newer than the model (fold_in), the popular movies (popular) or the "
    "database (database).",
    ["source"],
)
BACKENDS = ("database", "redis")
BACKEND_ERRORS = Counter(
    "movierec_backend_errors",
    "Requests answered 503 because PostgreSQL (database) or Redis could not be reached.",
    ["backend"],
)

# -- scheduler ------------------------------------------------------------------------------

REFRESH_OUTCOMES = ("success", "busy", "nothing_to_train", "failed")
REFRESH_RUNS = Counter(
    "movierec_refresh_runs",
    "Refresh runs by job and outcome: success, busy (another refresh held the lock), "
    "nothing_to_train (no ratings) or failed.",
    ["job", "outcome"],
)
REFRESH_SECONDS = Histogram(
    "movierec_refresh_duration_seconds",
    "Seconds each step of a refresh took (recommendations: load, fit, score, publish and "
    "total; statistics: total). A failed run is observed as step 'failed'.",
    ["job", "step"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
REFRESH_LAST_SUCCESS = Gauge(
    "movierec_refresh_last_success_timestamp_seconds",
    "When the last successful refresh of each job finished (Unix time).",
    ["job"],
    multiprocess_mode="max",
)

for _source in RECOMMENDATION_SOURCES:
    RECOMMENDATIONS.labels(_source)  # every source is a series from the start, at 0
for _backend in BACKENDS:
    BACKEND_ERRORS.labels(_backend)


def count_recommendation(source: str) -> None:
    """One recommendations answer was served from ``source`` (one of RECOMMENDATION_SOURCES)."""
    if source not in RECOMMENDATION_SOURCES:
        raise ValueError(
            f"unknown recommendation source {source!r}; one of {', '.join(RECOMMENDATION_SOURCES)}"
        )
    RECOMMENDATIONS.labels(source).inc()


def count_backend_error(backend: str) -> None:
    """A request failed with 503 because ``backend`` ("database" or "redis") is unavailable."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; one of {', '.join(BACKENDS)}")
    BACKEND_ERRORS.labels(backend).inc()


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    counter, histogram = _request_series(endpoint, method, status)
    counter.inc()
    histogram.observe(seconds)


# The children of one label set, looked up once: ``labels()`` validates and locks on every
# call, a tenth of the hooks' cost per request. The label sets are bounded already
# (Flask endpoints, the methods of ``observability._METHODS``, HTTP statuses).
@functools.cache
def _request_series(endpoint: str, method: str, status: int) -> tuple[Any, Any]:
    labels = (endpoint, method, str(status))
    return HTTP_REQUESTS.labels(*labels), HTTP_REQUEST_SECONDS.labels(*labels)


def record_refresh(
    job: str, outcome: str, seconds: float, steps: Mapping[str, float] | None = None
) -> None:
    """One refresh of ``job`` ended with ``outcome`` after ``seconds``; ``steps`` are the
    seconds of each step of a successful run."""
    if outcome not in REFRESH_OUTCOMES:
        raise ValueError(f"unknown refresh outcome {outcome!r}")
    REFRESH_RUNS.labels(job, outcome).inc()
    if outcome == "success":
        for step, step_seconds in (steps or {"total": seconds}).items():
            REFRESH_SECONDS.labels(job, step).observe(step_seconds)
        REFRESH_LAST_SUCCESS.labels(job).set(time.time())
    elif outcome == "failed":
        REFRESH_SECONDS.labels(job, "failed").observe(seconds)


# -- exposition -----------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(PROMETHEUS_MULTIPROC_ENV) or None


def exposition(accept: str | None, extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """This process's series (summed over every worker in multi-process mode) and those of the
    ``extra`` collectors, in the format the ``accept`` header asks for (Prometheus text format
    by default, OpenMetrics when asked), and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)  # a registry is itself a collector
    for collector in extra:
        registry.register(collector)
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
