"""`movierec serve` for real: gunicorn with two workers over the test database and Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy.engine import make_url

from conftest import WRITE_KEYS
from movierec.cache import CacheStore
from movierec.config import OPEN_ACCESS_WARNING, Settings
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
    from movierec.cache.statistics import MovieStat

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
    assert f"WARNING: {OPEN_ACCESS_WARNING}" in server.log()  # no key configured: said loudly
    assert server.terminate(timeout=40) == 0
    gone, alive = psutil.wait_procs(members, timeout=10)
    assert not alive, alive
    assert "Shutting down: Master" in server.log()
    healthy, message = check_web(f"{base_url}/health/ready", timeout=2)
    assert not healthy and "refused" in message.lower()


def test_scheduler_health_check_needs_published_results(
    settings: Settings, cache: CacheStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from movierec.cache.statistics import MovieStat

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


@pytest.fixture
def keyed_web(
    settings: Settings, loaded_db: Database, cache: CacheStore, tmp_path: Path
) -> Iterator[tuple[ManagedProcess, str]]:
    from movierec.cache.statistics import MovieStat

    cache.publish_statistics([MovieStat(10, 7, 4.0)])  # readiness needs published statistics
    env = {**service_env(settings), "API_KEYS": ",".join(WRITE_KEYS)}
    server, base_url = serve(env, tmp_path, workers=1)
    try:
        wait_until_ready(base_url, server, timeout=60)
        yield server, base_url
    finally:
        server.stop()


def raw_exchange(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client library would send these) and read the whole answer."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> str:
    assert status == expected, body
    assert headers["content-type"] == "application/json", headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert "server" not in headers, headers
    error = json.loads(body)["error"]
    assert error["status"] == expected
    return error["message"]


def test_gunicorn_answers_json_without_a_banner_and_enforces_keys(
    keyed_web: tuple[ManagedProcess, str],
) -> None:
    server, base_url = keyed_web
    # Requests gunicorn itself rejects, before the app: its HTML pages are JSON now.
    long_line = b"GET /api/v1/movie/1?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    message = assert_json_error(*raw_exchange(base_url, long_line), 414)
    assert message.startswith("URI Too Long")
    big_header = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert_json_error(*raw_exchange(base_url, big_header), 431)
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    assert_json_error(
        *raw_exchange(base_url, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"), 431
    )
    assert_json_error(*raw_exchange(base_url, b"NOT HTTP AT ALL\r\n\r\n"), 400)

    # The app's answers: security headers, no Server banner.
    response = requests.get(f"{base_url}/api/v1/movie/10", timeout=10)
    assert response.status_code == 200 and "Server" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    options = requests.options(f"{base_url}/api/v1/user", timeout=10)
    assert options.headers["Content-Type"] == "application/json" and options.json()["allow"]

    # Keys over real HTTP: 401 without, 403 wrong, 201 with either header.
    url = f"{base_url}/api/v1/user"
    assert requests.put(url, json={}, timeout=10).status_code == 401
    assert (
        requests.put(url, json={}, headers={"X-API-Key": "x" * 20}, timeout=10).status_code == 403
    )
    auth = {"Authorization": f"Bearer {WRITE_KEYS[1]}"}
    assert requests.put(url, json={}, headers=auth, timeout=10).status_code == 201

    # A chunked body over the limit: 413, not a truncated body read as malformed JSON.
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"gender": "'
        for _ in range(20):
            yield b"a" * 4096
        yield b'"}'

    headers = {**auth, "Content-Type": "application/json"}
    response = requests.put(url, data=chunks(), headers=headers, timeout=10)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["status"] == 413
    small = requests.put(url, data=iter([b'{"gender": ', b'"F"}']), headers=headers, timeout=10)
    assert small.status_code == 201, small.text  # a chunked body within the limit is read whole
    assert OPEN_ACCESS_WARNING not in server.log()
