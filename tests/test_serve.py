"""`movierec serve` for real: gunicorn with two workers over the test database and Redis."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy.engine import make_url

from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.healthcheck import check_scheduler, check_web
from process_helpers import ManagedProcess, serve, wait_until, wait_until_ready

pytestmark = pytest.mark.slow


def service_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"WEB_CONCURRENCY"}}
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        REDIS_KEY_PREFIX=settings.redis_key_prefix,
        LOG_LEVEL="INFO",
    )
    return env


@pytest.fixture
def web(
    settings: Settings, loaded_db: Database, cache: CacheStore, tmp_path: Path
) -> Iterator[tuple[ManagedProcess, str]]:
    from movierec.cache.store import MovieStat

    # Readiness needs published statistics (the scheduler's job; no scheduler runs here).
    cache.publish_statistics([MovieStat(10, 7, 4.0)])
    server, base_url = serve(service_env(settings), tmp_path)
    try:
        wait_until_ready(base_url, server, timeout=60)
        yield server, base_url
    finally:
        server.stop()


def served_by(server: ManagedProcess) -> set[int]:
    return {
        int(pid)
        for pid in re.findall(r'"GET /health/ready [^"]*" 200 .* worker=<?(\d+)', server.log())
    }


def burst(base_url: str, n: int = 32) -> list[int]:
    """``n`` concurrent requests, each on its own connection."""

    def one(_: int) -> int:
        return requests.get(f"{base_url}/health/ready", timeout=10).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(n)))


def test_two_workers_serve_concurrently_and_survive_a_worker_crash(
    web: tuple[ManagedProcess, str], settings: Settings, cache: CacheStore
) -> None:
    server, base_url = web
    workers = wait_until(lambda: len(server.children()) == 2 and server.children(), 30, "2 workers")
    worker_pids = {worker.pid for worker in workers}

    # Both workers answer (the kernel decides who accepts, so send bursts until both did).
    def both_served() -> bool:
        assert burst(base_url) == [200] * 32
        return worker_pids <= served_by(server)

    wait_until(both_served, 30, f"requests served by both workers {worker_pids}", interval=0)

    # Each worker opened its own connections after the fork; the arbiter holds none.
    if make_url(settings.database_url).get_backend_name() == "postgresql":
        port = make_url(settings.database_url).port or 5432
        for pid in worker_pids:
            remote_ports = {
                c.raddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr
            }
            assert port in remote_ports, f"worker {pid} has no connection of its own"
        arbiter = psutil.Process(server.pid).net_connections("tcp")
        assert not [c for c in arbiter if c.raddr], "the arbiter must not hold connections"

    # A killed worker is replaced and the service keeps answering.
    victim = next(iter(worker_pids))
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(
        lambda: {w.pid for w in server.children()} - worker_pids and len(server.children()) == 2,
        30,
        "a replacement worker",
    )
    assert replaced
    assert burst(base_url) == [200] * 32

    # No scheduler runs in the web tier: with data in the database, one would have published
    # recommendations (and statistics over all 120 movies, not the one the fixture published).
    assert cache.current_version("recs") is None
    assert cache.top_movie_ids(0, 1000) == [10]
    assert check_web(f"{base_url}/health/ready", timeout=5)[0]

    # SIGTERM (docker stop) stops gracefully: exit code 0 and no process left behind.
    members = server.group_members()
    assert len(members) == 3
    assert server.terminate(timeout=40) == 0
    gone, alive = psutil.wait_procs(members, timeout=10)
    assert not alive, alive
    assert "Shutting down: Master" in server.log()
    healthy, message = check_web(f"{base_url}/health/ready", timeout=2)
    assert not healthy and "refused" in message.lower()


def test_scheduler_health_check_needs_published_results(
    settings: Settings, cache: CacheStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec.cache.store import MovieStat

    for key, value in service_env(settings).items():
        monkeypatch.setenv(key, value)
    healthy, message = check_scheduler()
    assert not healthy and "recs, stats" in message
    cache.publish_statistics([MovieStat(10, 7, 4.0)])
    healthy, message = check_scheduler()
    assert not healthy and message.endswith("recs")
    cache.publish_recommendations([(1, [10])])
    healthy, message = check_scheduler()
    assert healthy, message
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    healthy, message = check_scheduler()
    assert not healthy and "ConnectionError" in message
