"""Liveness touches nothing; readiness says which part is down or what is missing."""

from __future__ import annotations

import time

from movierec.app import create_app
from movierec.cache import CacheStore
from movierec.cache.statistics import MovieStat
from movierec.config import Settings, load_settings


def test_live_and_ready(client, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    cache.publish_statistics([MovieStat(10, 7, 4.0)])
    assert client.get("/health/live").get_json() == {"status": "ok"}
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok", "statistics": "ok"}


def test_ready_names_the_part_that_is_down(settings: Settings) -> None:
    broken = load_settings(DATABASE_URL=settings.database_url, REDIS_URL="redis://127.0.0.1:9/0")
    response = create_app(broken).test_client().get("/health/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == {"status": 503, "message": "not ready: redis down"}
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["statistics"] == "unknown: redis down"
    broken = load_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/x", REDIS_URL=settings.redis_url
    )
    body = create_app(broken).test_client().get("/health/ready").get_json()
    assert body["error"]["message"].startswith("not ready: database down")
    assert body["checks"]["redis"] == "ok"


def test_without_published_statistics_it_is_not_ready(client, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    # A fresh deployment before the first statistics refresh, or a Redis restarted empty.
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json() == {
        "error": {"status": 503, "message": "not ready: no statistics published"},
        "checks": {
            "database": "ok",
            "redis": "ok",
            "statistics": "missing: none published in Redis",
        },
    }
    version = cache.publish_statistics([MovieStat(10, 7, 4.0)])
    assert client.get("/health/ready").status_code == 200
    # The current version's keys vanished (a partial restore, an eviction): not ready either.
    cache.client.delete(cache.key("stats", version, "movies"), cache.key("stats", version, "top"))
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"]["statistics"] == "missing: none published in Redis"


def test_live_answers_without_database_or_redis() -> None:
    # Both unreachable (a refused port): liveness still answers at once.
    broken = load_settings(
        DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/x",
        REDIS_URL="redis://127.0.0.1:9/0",
    )
    started = time.perf_counter()
    response = create_app(broken).test_client().get("/health/live")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert time.perf_counter() - started < 1
