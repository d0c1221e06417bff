"""The embedded stack starts only the parts that DATABASE_URL / REDIS_URL do not name."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from movierec.config import Settings, load_settings
from movierec.embedded import embedded_stack


def test_stack_uses_configured_services(settings: Settings, tmp_path: Path) -> None:
    with embedded_stack(settings, tmp_path) as stack:
        assert stack.database_url == settings.database_url
        assert stack.redis_url == settings.redis_url
    assert not (tmp_path / "valkey").exists()


def test_stack_starts_sqlite_and_valkey_and_stops_them(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with embedded_stack(load_settings(), tmp_path / "data") as stack:
        assert stack.database_url == f"sqlite:///{tmp_path / 'data' / 'movierec.sqlite3'}"
        client = redis.Redis.from_url(stack.redis_url)
        assert client.ping()
    with pytest.raises(redis.ConnectionError):
        client.ping()


def test_handles_are_created_once_under_concurrent_first_use(settings: Settings) -> None:
    """gthread workers and the scheduler's jobs touch the lazy handles from several threads."""
    from concurrent.futures import ThreadPoolExecutor

    from movierec.cache import CacheStore
    from movierec.db import Database

    database = Database(settings.database_url)
    cache = CacheStore(settings.redis_url, settings.redis_key_prefix)
    with ThreadPoolExecutor(16) as pool:
        engines = set(pool.map(lambda _: id(database.engine), range(64)))
        clients = set(pool.map(lambda _: id(cache.client), range(64)))
    assert len(engines) == 1 and len(clients) == 1
    database.dispose()
    cache.close()
