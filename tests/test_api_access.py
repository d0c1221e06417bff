"""API keys: writes need a key, the admin endpoints an admin key; reads
stay open; no key configured is the open demo mode. Through the Flask app, on both back ends."""

from __future__ import annotations

import logging

import pytest

from conftest import ADMIN_KEY, WRITE_KEYS, make_test_app, rated_movies, with_keys
from movierec.api.access import Access, ApiKeys, presented_key, required_access
from movierec.config import OPEN_ACCESS_WARNING, Settings
from movierec.db import Database

USER = 9
# Every write endpoint, with a body that succeeds for user 9 of the small data set.
WRITES = [
    ("PUT", "/api/v1/user", {"gender": "F"}),
    ("PUT", f"/api/v1/user/{USER}/rating", {"movie_id": 10, "rating": 4}),
    ("DELETE", f"/api/v1/user/{USER}/rating", {"movie_id": 10}),
    ("PUT", f"/api/v1/user/{USER}/watched", {"movie_id": 20}),
    ("DELETE", f"/api/v1/user/{USER}/watched", {"movie_id": 20}),
    ("DELETE", f"/api/v1/user/{USER}", None),
]
READS = [
    f"/api/v1/user/{USER}",
    f"/api/v1/user/{USER}/ratings/top",
    "/api/v1/movie/10",
    "/health/live",
    "/api/v1/openapi.json",
]
ADMIN = "/api/v1/admin/status"


def _error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["status"] == status
    return response.get_json()["error"]["message"]


def _send(client, method: str, path: str, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=lambda v: str(v))
def test_a_write_without_a_key_is_a_401_and_changes_nothing(
    keyed_client, loaded_db: Database, method: str, path: str, body: object
) -> None:  # type: ignore[no-untyped-def]
    before = rated_movies(loaded_db, USER)
    response = _send(keyed_client, method, path, body)
    assert "API key is required" in _error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert rated_movies(loaded_db, USER) == before
    assert keyed_client.get(f"/api/v1/user/{USER}").status_code == 200  # not deleted


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=lambda v: str(v))
def test_a_write_with_a_wrong_key_is_a_403(
    keyed_client, loaded_db: Database, method: str, path: str, body: object
) -> None:  # type: ignore[no-untyped-def]
    before = rated_movies(loaded_db, USER)
    for headers in (
        {"X-API-Key": "not-a-key-of-this-service"},
        {"Authorization": "Bearer not-a-key-of-this-service"},
        {"X-API-Key": WRITE_KEYS[0][:-1]},  # all but the last character
        {"X-API-Key": WRITE_KEYS[0] + "x"},
    ):
        assert "not accepted" in _error(_send(keyed_client, method, path, body, **headers), 403)
    assert rated_movies(loaded_db, USER) == before


def test_writes_accept_every_key_in_both_headers(keyed_client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    ways = [
        {"X-API-Key": WRITE_KEYS[0]},
        {"Authorization": f"Bearer {WRITE_KEYS[1]}"},  # the second key: rotation
        {"Authorization": f"bearer  {WRITE_KEYS[0]} "},  # the scheme is case-insensitive
        {"X-API-Key": ADMIN_KEY},  # an admin key may also write
    ]
    for headers in ways:
        body = {"movie_id": 30, "rating": 2}
        response = _send(keyed_client, "PUT", f"/api/v1/user/{USER}/rating", body, **headers)
        assert response.status_code == 200, (headers, response.get_json())
    assert 30 in rated_movies(loaded_db, USER)
    for method, path, body in WRITES:
        response = _send(keyed_client, method, path, body, **{"X-API-Key": WRITE_KEYS[1]})
        assert response.status_code in {200, 201}, (method, path, response.get_json())
    assert keyed_client.get(f"/api/v1/user/{USER}").status_code == 404  # really deleted


def test_reads_stay_open(keyed_client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    for path in READS:
        assert keyed_client.get(path).status_code == 200, path
        assert (
            keyed_client.get(path, headers={"X-API-Key": "wrong-key-wrong-key"}).status_code == 200
        )


def test_admin_status_needs_an_admin_key(keyed_client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    assert "admin API key is required" in _error(keyed_client.get(ADMIN), 401)
    for key in (WRITE_KEYS[0], "not-a-key-of-this-service"):  # a write key is not enough
        assert "needs an admin API key" in _error(
            keyed_client.get(ADMIN, headers={"X-API-Key": key}), 403
        )
    for headers in ({"X-API-Key": ADMIN_KEY}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        response = keyed_client.get(ADMIN, headers=headers)
        assert response.status_code == 200 and "running" in response.get_json()


def test_with_write_keys_and_no_admin_key_admin_status_is_closed(
    settings: Settings, loaded_db: Database
) -> None:
    for application in make_test_app(with_keys(settings, api_keys=WRITE_KEYS)):
        client = application.test_client()
        assert _error(client.get(ADMIN), 401)
        assert _error(client.get(ADMIN, headers={"X-API-Key": WRITE_KEYS[0]}), 403)
        # The write keys still write.
        response = client.put("/api/v1/user", json={}, headers={"X-API-Key": WRITE_KEYS[0]})
        assert response.status_code == 201


def test_with_only_an_admin_key_writes_need_it(settings: Settings, loaded_db: Database) -> None:
    for application in make_test_app(with_keys(settings, api_keys=(), admin_api_keys=(ADMIN_KEY,))):
        client = application.test_client()
        assert _error(client.put("/api/v1/user", json={}), 401)
        assert (
            client.put("/api/v1/user", json={}, headers={"X-API-Key": ADMIN_KEY}).status_code == 201
        )
        assert client.get(ADMIN, headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_no_key_configured_is_the_open_demo_mode_and_says_so(
    settings: Settings, loaded_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="movierec.api.access"):
        for application in make_test_app(settings):
            client = application.test_client()
            assert client.put("/api/v1/user", json={}).status_code == 201
            assert client.delete(f"/api/v1/user/{USER}").status_code == 200
            assert client.get(ADMIN).status_code == 200
    assert [r.getMessage() for r in caplog.records] == [OPEN_ACCESS_WARNING]


def test_routing_errors_come_before_the_key_check(keyed_client) -> None:  # type: ignore[no-untyped-def]
    assert _error(keyed_client.put("/api/v1/nothing", json={}), 404)
    assert _error(keyed_client.post(f"/api/v1/user/{USER}/rating", json={}), 405)


def test_an_unauthenticated_request_is_refused_before_its_body_is_read(keyed_client) -> None:  # type: ignore[no-untyped-def]
    # Not a 413 or a 400: whoever has no key learns nothing about what the body should be.
    response = keyed_client.put("/api/v1/user", data="x" * 100_000, content_type="text/plain")
    assert _error(response, 401)


def test_presented_key_and_the_access_rule() -> None:
    assert presented_key({"X-API-Key": " k "}) == "k"  # type: ignore[arg-type]
    assert presented_key({"Authorization": "Bearer k"}) == "k"  # type: ignore[arg-type]
    assert presented_key({"X-API-Key": "a", "Authorization": "Bearer b"}) == "a"  # type: ignore[arg-type]
    for headers in (
        {},
        {"X-API-Key": " "},
        {"Authorization": "Basic k"},
        {"Authorization": "Bearer"},
    ):
        assert presented_key(headers) is None, headers  # type: ignore[arg-type]
    assert required_access("GET", "/api/v1/user/<int:user_id>") is Access.OPEN
    assert required_access("delete", "/api/v1/user/{user_id}") is Access.WRITE
    assert required_access("POST", "/api/v1/anything/new") is Access.WRITE
    assert required_access("GET", "/api/v1/admin/status") is Access.ADMIN


def test_keys_are_compared_against_every_configured_key(settings: Settings) -> None:
    keys = ApiKeys.from_settings(with_keys(settings, admin_api_keys=(ADMIN_KEY,)))
    assert len(keys.write) == 3 and len(keys.admin) == 1
    assert all(keys.accepts(key, Access.WRITE) for key in (*WRITE_KEYS, ADMIN_KEY))
    assert not keys.accepts(WRITE_KEYS[0], Access.ADMIN)
    assert not keys.accepts(WRITE_KEYS[0].upper(), Access.WRITE)


def test_the_document_declares_what_is_enforced(keyed_client) -> None:  # type: ignore[no-untyped-def]
    document = keyed_client.get("/api/v1/openapi.json").get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKeyHeader"]["description"],
    }
    assert (schemes["BearerKey"]["type"], schemes["BearerKey"]["scheme"]) == ("http", "bearer")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            protected = required_access(method, path) is not Access.OPEN
            label = f"{method.upper()} {path}"
            assert protected == ("security" in operation), label
            assert protected == ("401" in operation["responses"]), label
            assert protected == ("403" in operation["responses"]), label
            if protected:
                assert operation["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}]
    assert document["paths"]["/api/v1/admin/status"]["get"]["security"]
    assert "security" not in document["paths"]["/api/v1/user/{user_id}"]["get"]
