"""Starting and reliably stopping the real MovieRec processes (gunicorn, the scheduler) in tests.

Every process is started in a session of its own, with its output in a log file. ``stop()``
sends SIGTERM to the whole process group, waits, and SIGKILLs whatever is left, so nothing
outlives a test even when the test fails half-way (the fixtures call it in their finalisers).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil
import requests


class ManagedProcess:
    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "movierec", *args],
            env=env,
            cwd=log_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log after offset ``start``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.compile(pattern).search(self.log(), start)
            if match:
                return match
            if not self.running():
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode} before logging "
                    f"{pattern!r}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name} did not log {pattern!r} in {timeout}s:\n{self.log_tail()}"
        )

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return []

    def group_members(self) -> list[psutil.Process]:
        """Every live process of this process's group (it leads its own session)."""
        members = []
        for process in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(process.pid) == self.pid and process.status() != "zombie":
                    members.append(process)
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return members

    def terminate(self, timeout: float) -> int:
        """SIGTERM to the leader only (what docker or systemd send); its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 30) -> None:
        """Make sure nothing of this process group is left, gracefully if possible."""
        try:
            if self.running():
                try:
                    os.killpg(self.pid, signal.SIGTERM)
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        finally:
            self._log.close()


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_until_ready(base_url: str, server: ManagedProcess, timeout: float) -> None:
    def ready() -> bool:
        if not server.running():
            raise AssertionError(f"{server.name} exited:\n{server.log_tail()}")
        try:
            return requests.get(f"{base_url}/health/ready", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still booting
            return False

    try:
        wait_until(ready, timeout, f"{base_url}/health/ready")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{server.log_tail()}") from None


def serve(env: dict[str, str], log_dir: Path, workers: int = 2) -> tuple[ManagedProcess, str]:
    """``movierec serve`` on an ephemeral loopback port; the process and its base URL."""
    server = ManagedProcess(
        "serve", ["serve", "--workers", str(workers), "--bind", "127.0.0.1:0"], env, log_dir
    )
    try:
        match = server.wait_for_log(r"Listening at: (http://127\.0\.0\.1:\d+)", timeout=60)
    except BaseException:
        server.stop()
        raise
    return server, match.group(1)
