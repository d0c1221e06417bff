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

# Impressions (services.impressions): what the lists showed, by the ranker, experiment arm
# (the ranker's name without an experiment) and source of the answer. Arms are the few of the
# experiment the refresh published, so the label sets stay bounded.
IMPRESSIONS = Counter(
    "movierec_impressions",
    "Recommendations answers recorded as impressions (the same answer asked again within "
    "IMPRESSIONS_DEDUP_SECONDS once per process), by ranker, experiment arm and source.",
    ["ranker", "arm", "source"],
)
IMPRESSION_SLOTS = Counter(
    "movierec_impression_slots",
    "Movies shown in the answers recorded as impressions, by ranker, arm and source.",
    ["ranker", "arm", "source"],
)
CLICKS = Counter("movierec_clicks", "Clicks on recommended movies recorded (POST clicked).")
IMPRESSION_DROP_REASONS = ("buffer_full",)
IMPRESSIONS_DROPPED = Counter(
    "movierec_impressions_dropped",
    "Recorded answers and clicks dropped before reaching Redis: buffer_full (Redis unreachable "
    "longer than the buffer of IMPRESSIONS_BUFFER_MAX entries lasts).",
    ["reason"],
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

# The drain (jobs.impressions), in the scheduler's process.
DRAINED_AS = ("impression", "duplicate", "click", "unknown", "unreadable")
IMPRESSIONS_DRAINED = Counter(
    "movierec_impressions_drained",
    "Stream entries the drain moved into the database, by what they became: impression, "
    "duplicate (the same answer within IMPRESSIONS_DEDUP_SECONDS, from another process), "
    "click, unknown (a user or movie no longer in the database) or unreadable.",
    ["entry"],
)
OUTCOMES = ("liked", "disliked", "dismissed", "clicked")
OUTCOMES_ATTRIBUTED = Counter(
    "movierec_outcomes_attributed",
    "Outcomes attributed to the impression that showed the movie, by its ranker, arm and the "
    "outcome: liked (rated >= 4 or watched), disliked (rated < 4), dismissed, clicked.",
    ["ranker", "arm", "outcome"],
)
OUTCOMES_UNATTRIBUTED = Counter(
    "movierec_outcomes_unattributed",
    "Ratings, watches, dismissals and clicks of movies no impression showed the user within "
    "IMPRESSIONS_OUTCOME_WINDOW_DAYS before, by outcome.",
    ["outcome"],
)
IMPRESSIONS_WAITING = Gauge(
    "movierec_impressions_waiting",
    "Entries left in the Redis stream after the last drain.",
    multiprocess_mode="max",
)

for _source in RECOMMENDATION_SOURCES:
    RECOMMENDATIONS.labels(_source)  # every source is a series from the start, at 0
for _backend in BACKENDS:
    BACKEND_ERRORS.labels(_backend)
for _reason in IMPRESSION_DROP_REASONS:
    IMPRESSIONS_DROPPED.labels(_reason)
for _outcome in OUTCOMES:
    OUTCOMES_UNATTRIBUTED.labels(_outcome)


def count_recommendation(source: str) -> None:
    """One recommendations answer was served from ``source`` (one of RECOMMENDATION_SOURCES)."""
    if source not in RECOMMENDATION_SOURCES:
        raise ValueError(
            f"unknown recommendation source {source!r}; one of {', '.join(RECOMMENDATION_SOURCES)}"
        )
    RECOMMENDATIONS.labels(source).inc()


def count_impression(ranker: str, arm: str, source: str, slots: int) -> None:
    """An answer of ``slots`` movies was recorded as an impression."""
    impressions, shown = _impression_series(ranker, arm, source)
    impressions.inc()
    shown.inc(slots)


@functools.cache
def _impression_series(ranker: str, arm: str, source: str) -> tuple[Any, Any]:
    return IMPRESSIONS.labels(ranker, arm, source), IMPRESSION_SLOTS.labels(ranker, arm, source)


def count_click() -> None:
    CLICKS.inc()


def count_impression_dropped(reason: str, count: int = 1) -> None:
    if reason not in IMPRESSION_DROP_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    IMPRESSIONS_DROPPED.labels(reason).inc(count)


def count_drained(entry: str, count: int) -> None:
    if entry not in DRAINED_AS:
        raise ValueError(f"unknown drained entry {entry!r}")
    if count:
        IMPRESSIONS_DRAINED.labels(entry).inc(count)


def count_outcome(ranker: str | None, arm: str | None, outcome: str) -> None:
    """One outcome attributed to an impression of ``ranker``/``arm`` (both None: to none)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if arm is None or ranker is None:
        OUTCOMES_UNATTRIBUTED.labels(outcome).inc()
    else:
        OUTCOMES_ATTRIBUTED.labels(ranker, arm, outcome).inc()


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
