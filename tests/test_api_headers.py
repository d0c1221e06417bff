"""Security headers on every answer and CORS only when configured."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from conftest import make_test_app
from movierec.api.headers import STRICT_CSP
from movierec.config import Settings, load_settings
from movierec.db import Database

ORIGIN = "https://app.example"


def _assert_secured(response, csp: str = STRICT_CSP) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Server" not in response.headers


def test_every_answer_has_the_security_headers(keyed_client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    answers = [
        keyed_client.get("/api/v1/user/1"),  # 200
        keyed_client.get("/api/v1/user/99999"),  # 404 from the service
        keyed_client.get("/api/v1/nothing"),  # 404 from routing
        keyed_client.get("/api/v1/user/0"),  # 400 validation
        keyed_client.patch("/api/v1/user/1"),  # 405
        keyed_client.put("/api/v1/user", json={}),  # 401
        keyed_client.put("/api/v1/user", json={}, headers={"X-API-Key": "x" * 20}),  # 403
        keyed_client.options("/api/v1/user"),
        keyed_client.get("/api/v1/openapi.json"),
        keyed_client.get("/health/live"),
    ]
    for response in answers:
        _assert_secured(response)
    assert {response.status_code for response in answers} == {200, 400, 401, 403, 404, 405}


def test_the_docs_page_gets_a_policy_that_lets_it_work(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/docs")
    page = response.get_data(as_text=True)
    policy = dict(
        (part.split()[0], part.split()[1:])
        for part in response.headers["Content-Security-Policy"].split("; ")
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    # Every inline script of the page is allowed by its hash, nothing else inline or remote.
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in str(policy)
    # Its assets are this origin's ('self'), and they load.
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(https?:)?//", asset), asset
        assert client.get(f"/api/v1/{asset}").status_code == 200, asset
    assert policy["connect-src"] == ["'self'"]  # it fetches openapi.json and "Try it out"


def test_cors_is_off_by_default(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/movie/1", headers={"Origin": ORIGIN})
    assert not [name for name, _ in response.headers if name.lower().startswith("access-control-")]
    preflight = client.options(
        "/api/v1/user",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.fixture
def cors_client(settings: Settings, db: Database):  # type: ignore[no-untyped-def]
    cors = load_settings(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        CORS_ORIGINS=f"{ORIGIN}, http://localhost:3000",
        API_KEYS="write-key-0123456789abcdef",
    )
    for application in make_test_app(cors):
        yield application.test_client()


def test_cors_for_the_configured_origins(cors_client) -> None:  # type: ignore[no-untyped-def]
    preflight = cors_client.options(
        "/api/v1/user/1/rating",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, X-API-Key",
        },
    )
    assert preflight.status_code == 200  # no key needed for a preflight
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed_headers and "content-type" in allowed_headers
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    _assert_secured(preflight)

    # The actual request, an error included, carries the CORS header the browser needs to read it.
    response = cors_client.put("/api/v1/user", json={}, headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN

    other = cors_client.get("/health/live", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
