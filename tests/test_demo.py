"""`movierec demo` runs the whole service on the embedded stack: it loads MovieLens on its first
start, runs the refresh schedule, serves personalised recommendations soon after, and stops on
Ctrl-C without leaving a process behind.

One demo process serves the module; the last test stops it."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from conftest import ML_SMALL_ZIP, requires_movielens

pytestmark = [requires_movielens(), pytest.mark.movielens, pytest.mark.slow]


@dataclass
class Demo:
    process: subprocess.Popen[str]
    base: str
    data_dir: Path
    stdout: list[str]  # the lines up to the banner
    stderr: Path  # the log lines, as a person sees them on the terminal


def _interruptible() -> None:
    # A shell without job control starts a background command (`.ci/run &`, nohup) with SIGINT
    # ignored, and children inherit that: Python would then install no Ctrl-C handler in the
    # demo, and the Ctrl-C this module sends would be lost. As on a terminal, then.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_banner(process: subprocess.Popen[str], timeout: float, seen: list[str]) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if not line and process.poll() is not None:
            raise AssertionError(f"demo exited with {process.returncode}")
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError("demo did not start in time")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp_path = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    # A watchdog tick every second: whatever a tick prints would show at once.
    env.update(DATA_DIR=str(tmp_path), MODEL_N_EPOCHS="20", SCHEDULER_WATCHDOG_SECONDS="1")
    data_dir = tmp_path / "demo"
    command = [sys.executable, "-m", "movierec", "demo", "--source", str(ML_SMALL_ZIP)]
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=env,
            start_new_session=True,
            preexec_fn=_interruptible,
        )
    try:
        stdout: list[str] = []
        base = wait_for_banner(process, timeout=120, seen=stdout)
        yield Demo(process, base, data_dir, stdout, stderr)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_offline_first_start_says_so_in_one_line_and_the_next_start_tries_again(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(MOVIELENS_URL="http://127.0.0.1:9/ml-latest-small.zip")
    command = [sys.executable, "-m", "movierec", "demo", "--data-dir", str(tmp_path)]
    for _start in range(2):
        result = subprocess.run(
            [*command, "--port", "0"], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        # A failed first load leaves nothing half done: the next start loads again.
        assert "first start: loading MovieLens from http://127.0.0.1:9/" in result.stdout
        # The error is all there is on stderr: no migration steps or anything else before it.
        assert result.stderr.strip().splitlines() == [
            "Error: http://127.0.0.1:9/ml-latest-small.zip: download failed (cannot connect to "
            "127.0.0.1); `movierec demo --source PATH` loads a local copy (folder or zip)"
        ]
    with sqlite3.connect(tmp_path / "movierec.sqlite3") as connection:
        assert connection.execute("SELECT COUNT(*) FROM movies").fetchone() == (0,)


def test_first_start_loads_movielens_and_is_ready(demo: Demo) -> None:
    # Ready once the first statistics are published: seconds after the start.
    deadline = time.monotonic() + 60
    ready = requests.get(f"{demo.base}/health/ready", timeout=10)
    while ready.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        ready = requests.get(f"{demo.base}/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert "Server" not in ready.headers and ready.headers["X-Content-Type-Options"] == "nosniff"
    with sqlite3.connect(demo.data_dir / "movierec.sqlite3") as connection:
        counts = [
            connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("users", "movies", "ratings")
        ]
    assert counts == [610, 9742, 100836]


def test_serves_personalised_recommendations_soon_after_first_start(demo: Demo) -> None:
    deadline = time.monotonic() + 120
    status: dict = {}
    while time.monotonic() < deadline:
        status = requests.get(f"{demo.base}/api/v1/admin/status", timeout=10).json()
        if status["current_model"] and status["versions"]["statistics"]:
            break
        time.sleep(0.5)
    assert status["current_model"]["n_users"] == 610, status
    assert status["current_model"]["params"]["n_epochs"] == 20
    top = requests.get(f"{demo.base}/api/v1/movies/top?limit=5", timeout=10).json()
    assert [entry["movie"]["movie_id"] for entry in top["top_movies"]][:2] == [356, 318]
    mine = requests.get(f"{demo.base}/api/v1/user/51/recommendations", timeout=10).json()
    theirs = requests.get(f"{demo.base}/api/v1/user/52/recommendations", timeout=10).json()
    ids = [m["movie_id"] for m in mine["recommendations"]]
    assert len(ids) == 20
    assert ids != [m["movie_id"] for m in theirs["recommendations"]]  # personalised


def test_one_metrics_endpoint_shows_the_web_app_and_the_scheduler(demo: Demo) -> None:
    # The demo is one process (waitress threads and the background scheduler): one registry.
    refreshed = 'movierec_refresh_runs_total{job="recommendations",outcome="success"} 1.0'
    deadline = time.monotonic() + 120
    text = ""
    while time.monotonic() < deadline and refreshed not in text:
        text = requests.get(f"{demo.base}/metrics", timeout=10).text
        time.sleep(0.5)
    assert refreshed in text, text
    assert requests.get(f"{demo.base}/api/v1/user/51/recommendations", timeout=10).ok
    text = requests.get(f"{demo.base}/metrics", timeout=10).text
    served = re.search(
        r'^movierec_http_requests_total\{endpoint="recommendations.get_recommendations",'
        r'method="GET",status="200"\} (\d+)',
        text,
        re.M,
    )
    assert served and int(served[1]) >= 1, text
    assert re.search(r"^movierec_model_age_seconds \d", text, re.M), text
    assert "movierec_published_users 610.0" in text


def test_the_console_shows_the_address_progress_and_problems_not_routine(demo: Demo) -> None:
    # After the first refresh and a few watchdog ticks (one a second here).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "recommendations refresh: done" not in (
        demo.stderr.read_text()
    ):
        time.sleep(0.5)
    time.sleep(3)
    console = demo.stderr.read_text()
    lines = console.splitlines()
    assert "recommendations refresh: done" in console and "statistics refresh: done" in console
    assert not [line for line in lines if "apscheduler" in line or "alembic" in line], console
    assert sum("serving on" in line for line in demo.stdout) == 1
    # The open-writes warning once (the demo's own line), not a second time from the app.
    warnings = [line for line in demo.stdout + lines if "API_KEYS and ADMIN_API_KEYS" in line]
    assert len(warnings) == 1, warnings
    # Short lines: the time and the message.
    done = next(line for line in lines if "recommendations refresh: done" in line)
    assert re.match(r"\d\d:\d\d:\d\d recommendations refresh: done in ", done), done


def test_ctrl_c_stops_the_server_the_scheduler_and_the_embedded_redis(demo: Demo) -> None:
    children = psutil.Process(demo.process.pid).children(recursive=True)
    assert any("valkey" in child.name() for child in children)
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0
    # A child the demo stopped may still be a zombie for a moment, until its new parent
    # reaps it: give the reaping a few seconds, not the stopping.
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
