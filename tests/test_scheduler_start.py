"""The scheduler at start waits for its database (``jobs.waiting``): unreachable, or not yet
migrated, it retries with a back-off and logs once a minute, and goes on once the database is
there; a schema from a newer version stops it at once."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from movierec.db.migrate import upgrade
from movierec.jobs.waiting import (
    BackOff,
    SchemaFromTheFuture,
    database_problem,
    wait_for_database,
)
from process_helpers import ManagedProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Forward(socketserver.BaseRequestHandler):
    """One client connection piped to the target and back, byte for byte."""

    def handle(self) -> None:
        upstream = socket.create_connection(self.server.target)  # type: ignore[attr-defined]
        pipes = [
            threading.Thread(target=_pipe, args=(self.request, upstream), daemon=True),
            threading.Thread(target=_pipe, args=(upstream, self.request), daemon=True),
        ]
        for pipe in pipes:
            pipe.start()
        for pipe in pipes:
            pipe.join()
        upstream.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


class Forwarder:
    """A TCP port that is closed until ``open()``, then leads to ``target``: a database that
    becomes reachable while a process waits for it."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.server: socketserver.ThreadingTCPServer | None = None

    def open(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), _Forward)
        self.server.daemon_threads = True
        self.server.target = self.target  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def forwarder(settings: Settings) -> Iterator[tuple[Forwarder, str]]:
    """For PostgreSQL: a closed port and the settings' database URL through it."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a closed port stands for an unreachable PostgreSQL")
    gate = Forwarder(free_port(), (url.host or "127.0.0.1", url.port or 5432))
    yield gate, url.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False)
    gate.close()


class FakeTime:
    """A clock that moves only when the waiting code sleeps; ``on_sleep`` runs at each sleep."""

    def __init__(self, on_sleep) -> None:  # type: ignore[no-untyped-def]
        self.now, self.sleeps, self.on_sleep = 0.0, [], on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))


def test_an_unreachable_postgresql_is_waited_for_until_it_answers(
    forwarder: tuple[Forwarder, str], caplog: pytest.LogCaptureFixture
) -> None:
    gate, url = forwarder
    assert "unavailable" in (database_problem(url) or "")

    def on_sleep(count: int) -> None:
        if count == 9:  # 151 s of back-off later, PostgreSQL comes up
            gate.open()

    time = FakeTime(on_sleep)
    caplog.set_level(logging.INFO, logger="movierec.jobs.waiting")
    wait_for_database(url, BackOff(1, 30), sleep=time.sleep, clock=time.clock)
    assert database_problem(url) is None
    # Doubling from 1 s up to the ceiling; ready right after the database opened.
    assert time.sleeps == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    waits = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Once at once, then once a minute: at 61 s and 121 s of waiting, not at every retry.
    assert len(waits) == 3, waits
    assert "the database is unavailable" in waits[0] and "still waiting after 61s" in waits[1]
    assert "still waiting after 121s" in waits[2]
    assert "ready after 151s" in caplog.records[-1].getMessage()


def test_a_database_not_there_then_not_migrated_is_waited_for(tmp_path: Path) -> None:
    # SQLite in a folder that does not exist yet: unreachable, then empty, then migrated.
    folder = tmp_path / "not-yet"
    url = f"sqlite:///{folder / 'movierec.sqlite3'}"
    problems: list[str | None] = []

    def on_sleep(count: int) -> None:
        if count == 2:
            folder.mkdir()
        if count == 4:
            upgrade(url)
        problems.append(database_problem(url))

    time = FakeTime(on_sleep)
    wait_for_database(url, BackOff(1, 30), sleep=time.sleep, clock=time.clock)
    assert len(time.sleeps) == 4
    assert "unavailable" in (problems[0] or "")
    assert "schema is at revision none" in (problems[1] or "")
    assert "movierec db upgrade" in (problems[2] or "")
    assert problems[3] is None


def test_a_schema_from_a_newer_version_is_not_waited_for(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'movierec.sqlite3'}"
    upgrade(url)
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    database.dispose()
    with pytest.raises(SchemaFromTheFuture, match="0999_future"):
        wait_for_database(url, BackOff(1, 30), sleep=pytest.fail)


def _scheduler_env(settings: Settings, database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "DATA_DIR": str(tmp_path),
        "MODEL_N_FACTORS": "8",
        "MODEL_N_EPOCHS": "10",
        "LOG_LEVEL": "INFO",
        "SCHEDULER_METRICS_PORT": "0",
        "SCHEDULER_WATCHDOG_SECONDS": "2",  # the back-off's ceiling: retries every 2 s at most
    }


def _comes_up_once_the_database_does(
    env: dict[str, str], tmp_path: Path, make_reachable: Callable[[], None]
) -> str:
    scheduler = ManagedProcess("scheduler", ["scheduler"], env, tmp_path)
    try:
        scheduler.wait_for_log(r"waiting for it, retrying", timeout=60)
        time.sleep(4)  # several retries: still there, not exited
        assert scheduler.running(), scheduler.log_tail()
        make_reachable()
        scheduler.wait_for_log(r"the database is ready after \d+s", timeout=60)
        scheduler.wait_for_log(r"statistics refresh: done in", timeout=120)
        assert scheduler.terminate(timeout=60) == 0
        return scheduler.log()
    finally:
        scheduler.stop()


def test_the_scheduler_command_waits_for_postgresql_and_comes_up_with_it(
    forwarder: tuple[Forwarder, str],
    settings: Settings,
    loaded_db: Database,
    cache: CacheStore,
    tmp_path: Path,
) -> None:
    gate, url = forwarder
    log = _comes_up_once_the_database_does(
        _scheduler_env(settings, url, tmp_path), tmp_path, gate.open
    )
    assert "the database is unavailable" in log and "Traceback" not in log
    assert cache.published_version("stats") is not None


def test_the_scheduler_command_waits_for_a_database_to_be_created_and_migrated(
    settings: Settings, cache: CacheStore, tmp_path: Path
) -> None:
    if make_url(settings.database_url).get_backend_name() != "sqlite":
        pytest.skip("the embedded back end's database: a file made later")
    folder = tmp_path / "made-later"
    url = f"sqlite:///{folder / 'movierec.sqlite3'}"

    def create_and_migrate() -> None:
        folder.mkdir()
        upgrade(url)

    log = _comes_up_once_the_database_does(
        _scheduler_env(settings, url, tmp_path), tmp_path, create_and_migrate
    )
    assert "the database is unavailable" in log and "Traceback" not in log


def test_a_schema_from_a_newer_version_is_one_line_and_non_zero(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'movierec.sqlite3'}"
    upgrade(url)
    database = Database(url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999_future'"))
    database.dispose()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"}
    result = subprocess.run(
        [sys.executable, "-m", "movierec", "scheduler"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: the database schema is at revision 0999_future")
    )
    assert "Traceback" not in result.stderr
