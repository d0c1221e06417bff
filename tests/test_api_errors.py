"""Every error is JSON {"error": {"status", "message"}} with the right status, never HTML."""

from __future__ import annotations

import io
import logging

import pytest

from movierec.app import create_app
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.services import movies as movies_service

BODY_ROUTES = [
    ("PUT", "/api/v1/user"),
    ("PUT", "/api/v1/user/1/rating"),
    ("DELETE", "/api/v1/user/1/rating"),
    ("PUT", "/api/v1/user/1/watched"),
    ("DELETE", "/api/v1/user/1/watched"),
]


def _error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["status"] == status
    return body["error"]["message"]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_body_errors(client, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    send = lambda **kw: client.open(path, method=method, **kw)  # noqa: E731
    assert _error(send(data="{", content_type="application/json"), 400) == (
        "request body: malformed JSON"
    )
    assert _error(send(data=b"\xff\xfe", content_type="application/json"), 400) == (
        "request body: malformed JSON"
    )
    assert _error(send(data='{"movie_id": 1}', content_type="text/plain"), 415).startswith(
        "request body: Content-Type must be application/json"
    )
    assert _error(send(data="movie_id=1", content_type="application/x-www-form-urlencoded"), 415)
    assert _error(send(), 400) == "request body: a JSON object is required"
    assert _error(send(json=[1, 2]), 400) == "request body: must be a JSON object"
    assert _error(send(json="text"), 400) == "request body: must be a JSON object"
    assert _error(send(data="x" * 70_000, content_type="application/json"), 413)


def test_unknown_route_and_wrong_method(client) -> None:  # type: ignore[no-untyped-def]
    assert _error(client.get("/api/v1/nothing"), 404) == "no such route: GET /api/v1/nothing"
    assert _error(client.get("/nothing"), 404)  # "/" is the web page now
    response = client.post("/api/v1/user/1/rating", json={"movie_id": 1, "rating": 3})
    assert _error(response, 405).startswith("method POST not allowed on /api/v1/user/1/rating")
    assert set(response.headers["Allow"].split(", ")) == {"PUT", "DELETE", "OPTIONS"}
    assert _error(client.patch("/api/v1/user/1"), 405)


def test_unexpected_error_is_a_json_500_without_internals(
    client, loaded_db: Database, monkeypatch, caplog
) -> None:  # type: ignore[no-untyped-def]
    def broken(db, movie_id):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    monkeypatch.setattr(movies_service, "get_movie", broken)
    with caplog.at_level(logging.ERROR, logger="movierec.api.errors"):
        response = client.get("/api/v1/movie/10")
    assert _error(response, 500) == "internal server error"
    assert "hunter2" not in response.get_data(as_text=True)
    record = next(r for r in caplog.records if r.name == "movierec.api.errors")
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])
    assert "GET /api/v1/movie/10" in record.getMessage()


@pytest.fixture
def redis_down(settings: Settings, loaded_db: Database):  # type: ignore[no-untyped-def]
    broken = load_settings(
        DATABASE_URL=settings.database_url,
        REDIS_URL="redis://127.0.0.1:9/0",
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
    )
    app = create_app(broken)
    yield app.test_client()
    app.extensions["movierec.db"].dispose()


@pytest.fixture
def database_down(settings: Settings):  # type: ignore[no-untyped-def]
    broken = load_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/movierec?connect_timeout=2",
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
    )
    app = create_app(broken)
    yield app.test_client()
    app.extensions["movierec.cache"].close()


def test_redis_down_is_a_503(redis_down) -> None:  # type: ignore[no-untyped-def]
    response = redis_down.delete("/api/v1/user/3")
    assert _error(response, 503) == "service unavailable: Redis cannot be reached"
    assert response.headers["Retry-After"].isdigit()
    # What needs only the database still works (watched too: tests/test_fallback.py).
    assert redis_down.get("/api/v1/user/3").status_code == 200
    assert (
        redis_down.put("/api/v1/user/3/rating", json={"movie_id": 10, "rating": 1}).status_code
        == 200
    )


def test_database_down_is_a_503(database_down) -> None:  # type: ignore[no-untyped-def]
    for response in (
        database_down.get("/api/v1/user/3"),
        database_down.get("/api/v1/movie/10"),
        database_down.get("/api/v1/user/3/ratings/top"),
        database_down.put("/api/v1/user", json={"gender": "F"}),
        database_down.put("/api/v1/user/3/rating", json={"movie_id": 10, "rating": 4}),
    ):
        assert _error(response, 503) == "service unavailable: the database cannot be reached"


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_deeply_nested_json_is_a_400(client, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    for depth in (1_000, 32_000):  # past the json module's recursion limit, under 64 KiB
        body = '{"movie_id": 1, "x": ' + "[" * depth + "]" * depth + "}"
        response = client.open(path, method=method, data=body, content_type="application/json")
        assert _error(response, 400) == "request body: JSON nested too deeply"


def _chunked(client, method: str, path: str, body: bytes):  # type: ignore[no-untyped-def]
    # What a WSGI server hands over for Transfer-Encoding: chunked: no Content-Length, and a
    # stream the server terminates (gunicorn sets wsgi.input_terminated).
    return client.open(
        path,
        method=method,
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_chunked_body_over_the_limit_is_a_413(client, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    too_large = b'{"movie_id": 1, "x": "' + b"a" * 70_000 + b'"}'
    assert _error(_chunked(client, method, path, too_large), 413) == (
        "request body: larger than 65,536 bytes"
    )
    # Exactly at the limit and below it, a chunked body is read whole, as with Content-Length.
    at_limit = b'{"x": "' + b"a" * (65_536 - 10) + b'"}'
    assert len(at_limit) == 65_536 - 1
    message = _error(_chunked(client, method, path, at_limit + b" "), 400)
    assert message.startswith(("x: ", "movie_id: ")), message  # parsed: a validation error


def test_options_answers_json(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/api/v1/user/1/rating", "/api/v1/user", "/api/v1/movie/1", "/health/live"):
        response = client.options(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert response.mimetype == "application/json"
        allowed = set(response.headers["Allow"].split(", "))
        assert set(response.get_json()["allow"]) == allowed and "OPTIONS" in allowed
    assert _error(client.options("/api/v1/nothing"), 404)
