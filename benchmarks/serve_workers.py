"""Benchmark: MovieRec's gunicorn default (gthread, cores+1 workers x 2 threads) against the
classic recommendation for gunicorn (sync workers, 2 x cores + 1) and a middle way (gthread,
2 x cores + 1 workers x 2 threads), serving recommendations.

Creates a throwaway database with ml-latest-small, publishes statistics and recommendations
(`movierec stats`, `movierec train`), measures the CPU share of one request in-process, then
for each configuration (in alternating rounds) starts `movierec serve`, lets ``--clients``
client threads (each with a keep-alive session, or with ``--new-connections`` a
connection per request) request random users' recommendations for ``--seconds``, and prints
requests per second, latency percentiles, errors, the server's total resident memory and the
most PostgreSQL connections it held. Client and server share the machine, so compare the rows
of one run.

    python benchmarks/serve_workers.py [--clients 16] [--seconds 10] [--rounds 2]
                                       [--new-connections]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests
from sqlalchemy import text
from stack import add_backend_arguments, movielens_stack


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health/ready", timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} not ready")


def run_config(
    name: str, workers: int, gunicorn_args: str, env: dict[str, str], args, admin, db_name: str
) -> dict:  # type: ignore[no-untyped-def]
    log_path = Path(tempfile.mkdtemp(prefix="movierec-bench-")) / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "movierec", "serve", "--workers", str(workers),
             "--bind", "127.0.0.1:0"],
            env={**env, "GUNICORN_CMD_ARGS": gunicorn_args},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = None
        for _ in range(300):
            match = re.search(r"Listening at: (http://\S+)", log_path.read_text())
            if match:
                base = match.group(1)
                break
            time.sleep(0.1)
        assert base, log_path.read_text()
        wait_ready(base)
        latencies: list[float] = []
        errors = [0]
        stop = threading.Event()
        lock = threading.Lock()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            session = requests if args.new_connections else requests.Session()
            mine = []
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    ok = (
                        session.get(
                            f"{base}/api/v1/user/{rng.randint(1, 610)}/recommendations", timeout=30
                        ).status_code
                        == 200
                    )
                except requests.RequestException:
                    ok = False
                mine.append(time.perf_counter() - started)
                if not ok:
                    with lock:
                        errors[0] += 1
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        peak_connections, peak_rss = 0, 0
        ends = time.monotonic() + args.seconds
        while time.monotonic() < ends:
            with admin.connect() as connection:
                peak_connections = max(peak_connections, connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                    {"d": db_name},
                ).scalar())  # fmt: skip
            processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children()]
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in processes))
            time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join()
        latencies.sort()

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

        return {
            "name": name,
            "rps": len(latencies) / args.seconds,
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "errors": errors[0],
            "rss_mb": peak_rss / 2**20,
            "pg": peak_connections,
        }
    finally:
        server.terminate()
        server.wait(timeout=60)
        log_path.unlink()
        log_path.parent.rmdir()


def request_cost(env: dict[str, str], n: int = 300) -> tuple[float, float]:
    """Wall and CPU milliseconds of one recommendations request, in this process (Flask's test
    client, no HTTP server): how much of a request is Python work and how much is waiting."""
    from movierec.app import create_app
    from movierec.config import load_settings

    app = create_app(
        load_settings(
            DATABASE_URL=env["DATABASE_URL"],
            REDIS_URL=env["REDIS_URL"],
            REDIS_KEY_PREFIX=env["REDIS_KEY_PREFIX"],
        )
    )
    client, rng = app.test_client(), random.Random(0)
    for _ in range(20):
        client.get("/api/v1/user/1/recommendations")
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        assert client.get(f"/api/v1/user/{rng.randint(1, 610)}/recommendations").status_code == 200
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    app.extensions["movierec.db"].dispose()
    app.extensions["movierec.cache"].close()
    return wall / n * 1000, cpu / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="Alternating runs of each.")
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="One connection per request (like a proxy without upstream keep-alive).",
    )
    add_backend_arguments(parser)
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    with movielens_stack(args.admin_url, args.redis_url) as stack:
        env, admin, db_name = stack.env, stack.admin, stack.db_name
        configs = [
            ("reference: sync, 2*cores+1", 2 * cores + 1, "--worker-class sync --threads 1"),
            ("movierec: gthread, cores+1 x 2", cores + 1, ""),
            ("candidate: gthread, 2*cores+1 x 2", 2 * cores + 1, "--threads 2"),
        ]
        wall_ms, cpu_ms = request_cost(env)
        print(
            f"one recommendations request in-process: {wall_ms:.1f} ms, "
            f"of which CPU {cpu_ms:.1f} ms"
        )
        kind = "new-connection" if args.new_connections else "keep-alive"
        print(f"{cores} cores, {args.clients} {kind} clients, {args.seconds:g}s each")
        print(f"{'configuration':34} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
              f"{'errors':>6} {'RSS MB':>7} {'PG conns':>8}")  # fmt: skip
        # Alternating rounds, so that a neighbour's load on a shared machine hits both alike.
        for _ in range(args.rounds):
            for name, workers, extra in configs:
                r = run_config(name, workers, extra, env, args, admin, db_name)
                print(f"{r['name']:34} {r['rps']:7.0f} {r['p50']:7.1f} {r['p95']:7.1f} "
                      f"{r['p99']:7.1f} {r['errors']:6d} {r['rss_mb']:7.0f} {r['pg']:8d}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
