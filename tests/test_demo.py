"""`movierec demo` runs the whole service on the embedded stack and stops without leftovers."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from conftest import ML_SMALL_ZIP, requires_movielens

pytestmark = [requires_movielens(), pytest.mark.movielens, pytest.mark.slow]


def wait_for_banner(process: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"demo exited with {process.returncode}")
        match = re.search(r"serving on (http://\S+)", line)
        if match:
            return match.group(1)
    raise AssertionError("demo did not start in time")


def test_demo_loads_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    data_dir = tmp_path / "demo"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "movierec",
            "demo",
            "--source",
            str(ML_SMALL_ZIP),
            "--data-dir",
            str(data_dir),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        base = wait_for_banner(process, timeout=120)
        ready = requests.get(f"{base}/health/ready", timeout=10)
        assert ready.status_code == 200, ready.text
        with sqlite3.connect(data_dir / "movierec.sqlite3") as connection:
            counts = [
                connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("users", "movies", "ratings")
            ]
        assert counts == [610, 9742, 100836]
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("valkey" in child.name() for child in children)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not [child for child in children if child.is_running()]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
