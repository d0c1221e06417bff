"""`movierec demo` runs the refresh schedule too: soon after a first start it serves
personalised recommendations, and Ctrl-C stops the scheduler with the rest."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import ML_SMALL_ZIP, requires_movielens

pytestmark = [requires_movielens(), pytest.mark.movielens, pytest.mark.slow]


def _wait_for_banner(process: subprocess.Popen[str], timeout: float) -> str:
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


def test_demo_serves_personalised_recommendations_after_first_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATA_DIR=str(tmp_path), MODEL_N_EPOCHS="20")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("movierec")),
            "demo",
            "--source",
            str(ML_SMALL_ZIP),
            "--data-dir",
            str(tmp_path / "demo"),
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
        base = _wait_for_banner(process, timeout=120)
        deadline = time.monotonic() + 120
        status: dict = {}
        while time.monotonic() < deadline:
            status = requests.get(f"{base}/api/v1/admin/status", timeout=10).json()
            if status["current_model"] and status["versions"]["statistics"]:
                break
            time.sleep(0.5)
        assert status["current_model"]["n_users"] == 610, status
        assert status["current_model"]["params"]["n_epochs"] == 20
        top = requests.get(f"{base}/api/v1/movies/top?limit=5", timeout=10).json()["top_movies"]
        assert [entry["movie"]["movie_id"] for entry in top][:2] == [356, 318]
        mine = requests.get(f"{base}/api/v1/user/51/recommendations", timeout=10).json()
        theirs = requests.get(f"{base}/api/v1/user/52/recommendations", timeout=10).json()
        ids = [m["movie_id"] for m in mine["recommendations"]]
        assert len(ids) == 20
        assert ids != [m["movie_id"] for m in theirs["recommendations"]]  # personalised
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
