"""What operators see: GET /metrics (in-process and summed over real gunicorn workers), the
scheduler's metrics endpoint, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from conftest import make_test_app
from movierec import metrics
from movierec.api.observability import MAX_REQUEST_ID_LENGTH, REQUEST_ID_HEADER
from movierec.cache import CacheStore
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.jobs.refresh import refresh_recommendations
from movierec.jobs.scheduler import EngineJobs, run_logged, start_metrics_server
from movierec.logs import RequestIdFilter, formatter
from process_helpers import ManagedProcess, serve, wait_until, wait_until_ready
from test_serve import service_env

LOG_FIELDS = {"time", "level", "logger", "message", "request_id"}


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a text exposition: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(exposition: str, name: str, **labels: str) -> float | None:
    return samples(exposition).get((name, frozenset(labels.items())))


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_dead_redis(settings: Settings) -> Settings:
    # Not model_copy: the computed redis_url is cached and would be copied as it was.
    return load_settings(DATABASE_URL=settings.database_url, REDIS_URL="redis://127.0.0.1:1/0")


# -- request ids ----------------------------------------------------------------------------


def test_a_request_id_is_echoed_trimmed_or_generated_on_every_answer(client: FlaskClient) -> None:
    given = client.get("/health/live", headers={REQUEST_ID_HEADER: "  trace-42:a/b=c  "})
    assert given.headers[REQUEST_ID_HEADER] == "trace-42:a/b=c"
    long = client.get("/health/live", headers={REQUEST_ID_HEADER: "x" * 500})
    assert long.headers[REQUEST_ID_HEADER] == "x" * MAX_REQUEST_ID_LENGTH

    generated = set()
    for unsafe in (None, "", "two words", 'quo"te', "semi;colon", "ünïcode"):
        headers = {} if unsafe is None else {REQUEST_ID_HEADER: unsafe}
        answer = client.get("/health/live", headers=headers)
        request_id = answer.headers[REQUEST_ID_HEADER]
        assert len(request_id) == 32 and int(request_id, 16) >= 0, (unsafe, request_id)
        generated.add(request_id)
    assert len(generated) == 6  # a new id for each request

    # Errors too: a missing route, a wrong method, a bad body, a missing user.
    for method, path, kwargs, status in (
        ("get", "/no/such/route", {}, 404),
        ("post", "/health/live", {}, 405),
        ("get", "/api/v1/movies/top?limit=many", {}, 400),
        ("get", "/api/v1/user/99999", {}, 404),
    ):
        answer = getattr(client, method)(path, headers={REQUEST_ID_HEADER: "err-1"}, **kwargs)
        assert answer.status_code == status, (path, answer.status_code)
        assert answer.headers[REQUEST_ID_HEADER] == "err-1", path


def test_records_logged_during_a_request_carry_its_id_as_json(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="movierec")
    # Redis is down, so the request logs a warning (and answers 503) while it is served: the
    # engine status has no fallback (top movies would fall back to the database).
    broken = with_dead_redis(settings)
    stream, text_stream = io.StringIO(), io.StringIO()
    handler, text_handler = logging.StreamHandler(stream), logging.StreamHandler(text_stream)
    handler.setFormatter(formatter("json"))
    text_handler.setFormatter(formatter("text"))
    logger = logging.getLogger("movierec")
    for each in (handler, text_handler):
        each.addFilter(RequestIdFilter())
        logger.addHandler(each)
    try:
        for application in make_test_app(broken):
            answer = application.test_client().get(
                "/api/v1/admin/status", headers={REQUEST_ID_HEADER: "req-503"}
            )
            assert answer.status_code == 503
            logger.info("outside any request")
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(text_handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all(set(record) >= LOG_FIELDS for record in records), records
    warning = next(r for r in records if r["message"].startswith("backing service unavailable"))
    assert warning["level"] == "WARNING" and warning["logger"] == "movierec.api.errors"
    assert warning["request_id"] == "req-503"
    assert records[-1]["message"] == "outside any request" and records[-1]["request_id"] is None
    # The text lines name the request too, and only within one.
    lines = text_stream.getvalue().splitlines()
    assert any("backing service unavailable" in ln and "[request_id=req-503]" in ln for ln in lines)
    assert lines[-1].endswith("movierec: outside any request")


# -- /metrics in one process ----------------------------------------------------------------


def test_metrics_count_requests_per_endpoint_method_and_status(client: FlaskClient) -> None:
    series = {"endpoint": "users.get_user", "method": "GET", "status": "404"}
    before = value(scrape(client), "movierec_http_requests_total", **series) or 0
    for user_id in (99997, 99998, 99999):  # three paths, one endpoint: one series
        assert client.get(f"/api/v1/user/{user_id}").status_code == 404
    assert client.get("/no/such/route").status_code == 404
    after = scrape(client)
    assert value(after, "movierec_http_requests_total", **series) == before + 3
    histogram = value(after, "movierec_http_request_duration_seconds_count", **series)
    assert histogram is not None and histogram >= 3
    unmatched = {"endpoint": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "movierec_http_requests_total", **unmatched)
    assert "/api/v1/user/99999" not in after  # paths never become labels


def test_count_recommendation_appears_in_metrics(client: FlaskClient) -> None:
    before = scrape(client)
    for source in metrics.RECOMMENDATION_SOURCES:  # every source is there from the start
        assert value(before, "movierec_recommendations_total", source=source) is not None
    start = value(before, "movierec_recommendations_total", source="fold_in")
    metrics.count_recommendation("fold_in")
    metrics.count_recommendation("fold_in")
    metrics.count_recommendation("model")
    after = scrape(client)
    assert value(after, "movierec_recommendations_total", source="fold_in") == start + 2
    with pytest.raises(ValueError, match="unknown recommendation source 'svd'"):
        metrics.count_recommendation("svd")


def test_backend_errors_are_counted_and_metrics_still_answer(settings: Settings) -> None:
    broken = with_dead_redis(settings)
    for application in make_test_app(broken):
        client = application.test_client()
        before = value(scrape(client), "movierec_backend_errors_total", backend="redis")
        assert client.get("/api/v1/admin/status").status_code == 503
        assert client.get("/api/v1/admin/status").status_code == 503
        after = scrape(client)  # Redis is down: no engine state, but the request series
        assert value(after, "movierec_backend_errors_total", backend="redis") == before + 2
        assert "movierec_model_age_seconds" not in after
        assert value(after, "movierec_http_requests_total", endpoint="monitoring.get_metrics",
                     method="GET", status="200")  # fmt: skip


def test_engine_state_series_follow_the_published_model(
    app: Flask, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    client = app.test_client()
    empty = scrape(client)
    assert value(empty, "movierec_model_age_seconds") is None  # nothing published yet
    assert value(empty, "movierec_refresh_running", job="recommendations") == 0
    fast = settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 5})
    report = refresh_recommendations(loaded_db, cache, fast)
    published = scrape(client)
    age = value(published, "movierec_model_age_seconds")
    assert age is not None and 0 <= age < 120
    assert value(published, "movierec_published_users") == report.n_users == 60
    assert value(published, "movierec_published_movies") == report.n_movies


# -- the scheduler's endpoint ---------------------------------------------------------------


@pytest.fixture
def scheduler_metrics() -> Iterator[str]:
    port = free_port()
    server = start_metrics_server(port)
    assert server is not None
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    server.server_close()


def test_scheduler_metrics_show_refresh_steps_and_outcomes(
    loaded_db: Database, cache: CacheStore, settings: Settings, scheduler_metrics: str
) -> None:
    def runs(text: str, job: str, outcome: str) -> float:
        return value(text, "movierec_refresh_runs_total", job=job, outcome=outcome) or 0

    def steps(text: str, job: str, step: str) -> float:
        return value(text, "movierec_refresh_duration_seconds_count", job=job, step=step) or 0

    before = requests.get(scheduler_metrics, timeout=10).text
    jobs = EngineJobs(settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 5}))
    try:
        assert jobs.recommendations() is not None
        assert jobs.statistics() is not None
    finally:
        jobs.close()

    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    assert run_logged("statistics", broken) is None
    after = requests.get(scheduler_metrics, timeout=10).text
    for job, outcome in (
        ("recommendations", "success"),
        ("statistics", "success"),
        ("statistics", "failed"),
    ):
        assert runs(after, job, outcome) == runs(before, job, outcome) + 1, (job, outcome)
    for step in ("load", "fit", "score", "publish", "total"):
        assert steps(after, "recommendations", step) == steps(before, "recommendations", step) + 1
    assert steps(after, "statistics", "total") == steps(before, "statistics", "total") + 1
    finished = value(
        after, "movierec_refresh_last_success_timestamp_seconds", job="recommendations"
    )
    assert finished is not None and abs(time.time() - finished) < 120
    # A plain single-process registry: the process's own series are there too.
    assert "process_cpu_seconds_total" in after


def test_scheduler_metrics_port_zero_is_off_and_a_taken_port_is_no_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert start_metrics_server(0) is None
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        assert start_metrics_server(taken.getsockname()[1]) is None
    assert "scheduler metrics: cannot listen on port" in caplog.text


# -- a real `movierec serve` with two workers -----------------------------------------------


@pytest.fixture
def json_web(
    settings: Settings, loaded_db: Database, cache: CacheStore, tmp_path: Path
) -> Iterator[ManagedProcess]:
    from movierec.cache.statistics import MovieStat

    # Readiness needs published statistics (the scheduler's job; no scheduler runs here).
    cache.publish_statistics([MovieStat(10, 7, 4.0)])
    env = {**service_env(settings), "LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server, base_url = serve(env, tmp_path)
    server.base_url = base_url  # type: ignore[attr-defined]
    try:
        wait_until_ready(base_url, server, timeout=60)
        yield server
    finally:
        server.stop()


def json_log(server: ManagedProcess) -> list[dict]:
    lines = server.log().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from None
    return records


def access_records(server: ManagedProcess, path: str) -> list[dict]:
    return [
        record
        for record in json_log(server)
        if record["logger"] == "gunicorn.access" and f'"GET {path} ' in record["message"]
    ]


def worker_of(record: dict) -> int:
    return int(record["message"].split("worker=<")[1].split(">")[0])


@pytest.mark.slow
def test_serve_sums_metrics_over_workers_and_logs_json_lines(
    json_web: ManagedProcess, loaded_db: Database, cache: CacheStore, settings: Settings
) -> None:
    server, base_url = json_web, json_web.base_url  # type: ignore[attr-defined]
    workers = wait_until(lambda: len(server.children()) == 2 and server.children(), 30, "workers")
    pids = {worker.pid for worker in workers}
    pool = ThreadPoolExecutor(max_workers=8)

    def get_many(path: str, n: int = 16) -> list[requests.Response]:
        return list(pool.map(lambda _: requests.get(f"{base_url}{path}", timeout=10), range(n)))

    def readiness_answered() -> int:
        return len([r for r in access_records(server, "/health/ready") if '" 200 ' in r["message"]])

    # Traffic until both workers have answered some of it.
    def both_served(path: str) -> bool:
        answers = get_many(path)
        assert [answer.status_code for answer in answers] == [200] * len(answers)
        return pids <= {worker_of(record) for record in access_records(server, path)}

    wait_until(lambda: both_served("/health/ready"), 30, "both workers serving", interval=0)

    # A model is published, so the engine-state series have values.
    fast = settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 5})
    refresh_recommendations(loaded_db, cache, fast)

    # Whichever worker answers /metrics, it counts the requests of both.
    scrapes: list[str] = []

    def both_scraped() -> bool:
        scrapes.extend(answer.text for answer in get_many("/metrics", 8))
        return pids <= {worker_of(record) for record in access_records(server, "/metrics")}

    wait_until(both_scraped, 30, "both workers answering /metrics", interval=0)
    # Every readiness request answered 200 (the fixture's and the bursts'), per the access log.
    sent = readiness_answered()
    ready = {"endpoint": "health.ready", "method": "GET", "status": "200"}
    for text in scrapes:
        assert value(text, "movierec_http_requests_total", **ready) == sent
        assert value(text, "movierec_http_request_duration_seconds_count", **ready) == sent
        assert (value(text, "movierec_http_request_duration_seconds_sum", **ready) or 0) > 0
        assert value(text, "movierec_published_users") == 60
        assert (value(text, "movierec_model_age_seconds") or -1) >= 0

    # A worker that exits (as max_requests recycles them) takes none of the counts with it.
    os.kill(workers[0].pid, signal.SIGTERM)
    wait_until(
        lambda: (
            len(server.children()) == 2
            and workers[0].pid not in {child.pid for child in server.children()}
        ),
        60,
        "a replacement worker",
    )
    wait_until_ready(base_url, server, timeout=60)
    for answer in get_many("/metrics", 8):
        assert answer.status_code == 200
        assert value(answer.text, "movierec_http_requests_total", **ready) == readiness_answered()
    assert readiness_answered() > sent

    # The request id is echoed, and is in the access log line of that request.
    answer = requests.get(f"{base_url}/api/v1/user/99999", headers={REQUEST_ID_HEADER: "rid-7"})
    assert answer.status_code == 404 and answer.headers[REQUEST_ID_HEADER] == "rid-7"
    wait_until(lambda: access_records(server, "/api/v1/user/99999"), 10, "the access line")
    (line,) = access_records(server, "/api/v1/user/99999")
    assert line["request_id"] == "rid-7" and "request_id=rid-7" in line["message"]

    # Every line of the log, gunicorn's and MovieRec's, is one JSON object with the fields.
    records = json_log(server)
    assert {record["logger"] for record in records} >= {"gunicorn.error", "gunicorn.access"}
    for record in records:
        assert set(record) >= LOG_FIELDS, record
    pool.shutdown()
