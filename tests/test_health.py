"""Readiness says which part is down."""

from __future__ import annotations

from movierec.app import create_app
from movierec.config import Settings, load_settings


def test_live_and_ready(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health/live").get_json() == {"status": "ok"}
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_ready_names_the_part_that_is_down(settings: Settings) -> None:
    broken = load_settings(DATABASE_URL=settings.database_url, REDIS_URL="redis://127.0.0.1:9/0")
    response = create_app(broken).test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == {"status": 503, "message": "not ready: redis down"}
    assert body["checks"]["database"] == "ok"
    broken = load_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/x", REDIS_URL=settings.redis_url
    )
    body = create_app(broken).test_client().get("/health/ready").get_json()
    assert body["error"]["message"] == "not ready: database down"
    assert body["checks"]["redis"] == "ok"
