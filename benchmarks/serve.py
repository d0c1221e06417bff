"""Benchmark: the API's hot endpoints under gunicorn, against a bare Flask endpoint, with wrk.

    apt-get install -y wrk          # Debian/Ubuntu (macOS: brew install wrk)
    python benchmarks/serve.py [--seconds 10] [--rounds 3] [--connections 16] [--workers 3]
                               [--cases recs-cached,movie,...] [--json results.json]
                               [--plot serving.png]

Creates a throwaway PostgreSQL database and Redis key prefix, loads ml-latest-small with the
product's own loader (``movierec data load``) and runs both refreshes (``movierec stats``,
``movierec train``), then starts two servers under the same gunicorn layout (MovieRec's
packaged gunicorn.conf.py, ``--workers N``):

* ``movierec serve --workers N``;
* benchmarks/bare_endpoint.py: one Redis GET of a 20-movie JSON list (a real recommendations
  answer), returned as it is: the most a Flask endpoint could serve.

``live`` (GET /health/live, a view that reads nothing) is MovieRec's own floor: its request
hooks (access, request id, metrics, security headers) and validation under the same layout.
The recommendations cases read three kinds of user: cached lists (existing users, as the
refresh left them), fold-in (existing users who rated a movie after the refresh, so their
answer is computed at read time) and cold start (users created after the refresh). Each web
process keeps the finished answers of unchanged lists (RECOMMENDATION_ANSWERS_KEPT), so after
the warm-up ``recs-cached`` measures users who ask again; ``recs-built`` sends the same requests
to a third server that keeps none: what the first request of a user after a refresh costs
(started only when that case is asked for). PUT rating writes for users of its own, so that
it never turns a cached list into a fold-in.

For every case, in alternating rounds (so that a neighbour's load on a shared machine hits all
cases alike), wrk runs ``--seconds`` at ``--connections`` connections (requests/s, p50, p99)
and ``--seconds`` at one connection (p99). Meanwhile the CPU time of the server's processes
(the arbiter, its workers and the workers it recycled) is counted: the CPU one request costs the
server. The table shows the median over the rounds, the throughput relative to the bare
endpoint's, the server CPU per request and the bare endpoint's as a share of it (the throughput
ratio the server would reach if it had the cores to itself: CPU time does not grow when a
neighbour or the hypervisor takes the cores away, wall time does), and whether the serving
goals are met: the cached recommendations, GET movie and movies/top at >= 60% of the bare
throughput with p99 <= 5 ms at one connection, writes p99 <= 15 ms, also at one connection (at
16 connections on two cores the p99 is the queue: Little's law puts even the bare endpoint's
mean near 6 ms there, its p99 above 15); and a fold-in answer p99 <= 10 ms.

Client and servers share the machine: compare rows of one run, not runs on different machines.
Exits 2 when wrk is not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis
import requests
from sqlalchemy import create_engine, text
from stack import REPO, Stack, add_backend_arguments, movielens_stack

COLD_START_USERS = 32
FOLD_IN_USERS = 64
RATE_USERS = 64
# Issue 12's goals: the cached recommendations, GET movie and movies/top at >= 60% of the bare
# endpoint's throughput with p99 <= 5 ms at one connection, writes p99 <= 15 ms; and the
# product's own target for a fold-in answer, <= 10 ms.
READ_GOAL_RATIO, READ_GOAL_P99_MS, WRITE_GOAL_P99_MS, FOLD_IN_GOAL_P99_MS = 0.60, 5.0, 15.0, 10.0

# Runs in every wrk thread: a random request from the case's list (or the PUT generator), and
# at the end one machine-readable line with the figures this script reads.
WRK_LUA = """
local thread_seed = 0
function setup(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
end
function init(args)
  math.randomseed(seed or 1)
end
%(request)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, "
    .. "\\"status_errors\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

GET_REQUEST_LUA = """
local paths = {%(paths)s}
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""

RATE_REQUEST_LUA = """
local users = {%(users)s}
local movies = {%(movies)s}
local headers = {["Content-Type"] = "application/json"}
function request()
  local body = string.format('{"movie_id": %%d, "rating": %%.1f}',
    movies[math.random(#movies)], math.random(1, 10) / 2)
  return wrk.format("PUT", "/api/v1/user/" .. users[math.random(#users)] .. "/rating",
    headers, body)
end
"""


@dataclass(frozen=True)
class Context:
    """What the cases draw their requests from (``prepare_users``). The user groups are
    disjoint: a rating turns a cached list into a fold-in, so the PUT case writes for users of
    its own and never changes what the read cases measure."""

    users: list[int]  # users with a cached list, as the refresh left them
    cold_users: list[int]  # users created after the refresh: cold start
    movies: list[int]
    fold_in_users: list[int]  # users who rated since the refresh: fold-in
    rate_users: list[int]  # the users PUT rating writes for


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # "movierec", "movierec-unkept" (keeps no answers) or "bare"
    lua: Callable[[Context], str]  # the request() part of the wrk script
    what: str
    goal_ratio: float | None = None  # of the bare endpoint's requests/s
    goal_p99_ms: float | None = None  # at one connection


def _get(paths: Callable[[Context], list[str]]) -> Callable[[Context], str]:
    def lua(context: Context) -> str:
        return GET_REQUEST_LUA % {"paths": ",".join(f'"{p}"' for p in paths(context))}

    return lua


def _rate(context: Context) -> str:
    return RATE_REQUEST_LUA % {
        "users": ",".join(map(str, context.rate_users)),
        "movies": ",".join(map(str, context.movies)),
    }


class Http:
    """JSON requests to a running server, on paths relative to ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.base}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def put(self, path: str, json: dict[str, Any]) -> Any:
        response = requests.put(f"{self.base}{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json()


def fold_in_users(http: Http, candidates: list[int]) -> list[int]:
    """Users whose recommendations are computed at read time (fold-in): each of ``candidates``
    (existing users, with a cached list) rates the first movie of their list now, after the
    refresh, as a user who follows a recommendation would. Their next answers are folded in
    from the published model and their current ratings; checked, so the case measures that."""
    for user in candidates:
        path = f"/api/v1/user/{user}/recommendations"
        first = http.get(path)["recommendations"][0]["movie_id"]
        http.put(f"/api/v1/user/{user}/rating", {"movie_id": first, "rating": 4.0})
        source = http.get(path)["source"]
        if source != "fold_in":
            raise SystemExit(f"user {user} rated since the refresh, yet the answer is {source}")
    return candidates


def prepare_users(http: Http, env: dict[str, str]) -> tuple[dict[str, list[int]], list[int]]:
    """The users of each kind ("cached", "fold-in", "cold", "rate"), prepared against the
    server, and every movie id. Fold-in and rate users are every ninth existing user (two
    different ninths), so that each group spans light and heavy raters; cached are the rest."""
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as connection:
        existing = list(connection.execute(text("SELECT user_id FROM users ORDER BY 1")).scalars())
        movies = list(connection.execute(text("SELECT movie_id FROM movies ORDER BY 1")).scalars())
    engine.dispose()
    fold_in = existing[2::9][:FOLD_IN_USERS]
    rate = existing[6::9][:RATE_USERS]
    cached = [u for u in existing if u not in set(fold_in) | set(rate)]
    for user in cached[:5]:
        source = http.get(f"/api/v1/user/{user}/recommendations")["source"]
        if source != "model":
            raise SystemExit(f"user {user} should have a cached list, yet the answer is {source}")
    cold = [http.put("/api/v1/user", {"gender": "F"})["user_id"] for _ in range(COLD_START_USERS)]
    users = {"cached": cached, "fold-in": fold_in_users(http, fold_in), "cold": cold, "rate": rate}
    return users, movies


READ_GOALS = {"goal_ratio": READ_GOAL_RATIO, "goal_p99_ms": READ_GOAL_P99_MS}
CASES = [
    Case("bare", "bare", _get(lambda c: ["/bare"]), "bare Flask: one Redis GET"),
    # MovieRec's own floor: its hooks (access, request id, metrics, headers) and validation
    # around a view that reads nothing.
    Case("live", "movierec", _get(lambda c: ["/health/live"]), "GET health/live"),
    Case(
        "recs-cached",
        "movierec",
        _get(lambda c: [f"/api/v1/user/{u}/recommendations" for u in c.users]),
        "GET recommendations, cached list",
        **READ_GOALS,
    ),
    # The same requests on a server that keeps no finished answers: what a user's first
    # request after a refresh costs (each process builds a page once per refresh and user).
    Case(
        "recs-built",
        "movierec-unkept",
        _get(lambda c: [f"/api/v1/user/{u}/recommendations" for u in c.users]),
        "GET recommendations, cached, built",
    ),
    Case(
        "recs-fold-in",
        "movierec",
        _get(lambda c: [f"/api/v1/user/{u}/recommendations" for u in c.fold_in_users]),
        "GET recommendations, fold-in",
        goal_p99_ms=FOLD_IN_GOAL_P99_MS,
    ),
    Case(
        "recs-cold",
        "movierec",
        _get(lambda c: [f"/api/v1/user/{u}/recommendations" for u in c.cold_users]),
        "GET recommendations, cold start",
    ),
    Case(
        "movie",
        "movierec",
        _get(lambda c: [f"/api/v1/movie/{m}" for m in c.movies]),
        "GET movie",
        **READ_GOALS,
    ),
    Case(
        "top",
        "movierec",
        _get(lambda c: ["/api/v1/movies/top"]),
        "GET movies/top (100)",
        **READ_GOALS,
    ),
    Case(
        "top-20",
        "movierec",
        _get(lambda c: ["/api/v1/movies/top?limit=20"]),
        "GET movies/top?limit=20",
        **READ_GOALS,
    ),
    Case("rate", "movierec", _rate, "PUT rating", goal_p99_ms=WRITE_GOAL_P99_MS),
]


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:port
    pid: int  # gunicorn's arbiter

    def cpu_seconds(self) -> float:
        """CPU time used so far by the arbiter, its live workers and the workers it reaped."""
        arbiter = psutil.Process(self.pid)
        total = sum(arbiter.cpu_times()[:4])  # user, system, reaped children's user, system
        for worker in arbiter.children():
            with suppress(psutil.NoSuchProcess):  # recycled meanwhile: counted once reaped
                total += sum(worker.cpu_times()[:2])
        return total


@contextmanager
def server(command: list[str], env: dict[str, str], name: str):  # type: ignore[no-untyped-def]
    """A gunicorn server on a free port of 127.0.0.1; yields it."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"movierec-bench-{name}-"))
    log_path = log_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--bind", "127.0.0.1:0"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = None
        deadline = time.monotonic() + 60
        while base is None and time.monotonic() < deadline and process.poll() is None:
            match = re.search(r"Listening at: (http://\S+)", log_path.read_text())
            base = match.group(1) if match else time.sleep(0.1)
        if base is None:
            raise SystemExit(f"{name} server did not start:\n{log_path.read_text()[-3000:]}")
        yield Server(base, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(log_dir, ignore_errors=True)


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} does not answer 200")


def run_wrk(target: Server, script: Path, connections: int, seconds: float) -> dict[str, float]:
    threads = min(connections, 2)
    cpu_before = target.cpu_seconds()
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
         target.base],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    cpu = target.cpu_seconds() - cpu_before
    line = next((x for x in result.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no summary:\n{result.stdout}{result.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    return {
        "cpu_ms": 1000 * cpu / max(raw["requests"], 1),
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1000,
        "p99": raw["p99_us"] / 1000,
        "errors": raw["status_errors"] + raw["socket_errors"],
    }


def prepare_context(base: str, env: dict[str, str]) -> Context:
    users, movies = prepare_users(Http(base), env)
    return Context(
        users=users["cached"],
        cold_users=users["cold"],
        movies=movies,
        fold_in_users=users["fold-in"],
        rate_users=users["rate"],
    )


def goal(case: Case, row: dict[str, float]) -> str:
    """ok or MISS against the case's goals; empty for a case without any."""
    if case.goal_ratio is None and case.goal_p99_ms is None:
        return ""
    met = (case.goal_ratio is None or row["ratio"] >= case.goal_ratio) and (
        case.goal_p99_ms is None or row["p99_1"] <= case.goal_p99_ms
    )
    return "ok" if met else "MISS"


def measure(args: argparse.Namespace, cases: list[Case], stack: Stack, workdir: Path):  # type: ignore[no-untyped-def]
    """Both servers on ``stack``; every case in alternating rounds: {case: [figures, ...]}."""
    from movierec.cli.serve import config_path

    env = {**stack.env, "BARE_ENDPOINT_KEY": f"{stack.db_name}:bare"}
    if args.threads is not None:  # both servers: read by gunicorn after the config file
        env["GUNICORN_CMD_ARGS"] = f"--threads {args.threads}"
    workers = ["--workers", str(args.workers)]
    bare_command = [sys.executable, "-m", "gunicorn", "-c", str(config_path()), *workers,
                    "--chdir", str(REPO / "benchmarks"), "bare_endpoint:create_app()"]  # fmt: skip
    with ExitStack() as servers:
        movierec_command = [sys.executable, "-m", "movierec", "serve", *workers]
        servers_by_name = {
            "movierec": servers.enter_context(server(movierec_command, env, "movierec")),
            "bare": servers.enter_context(server(bare_command, env, "bare")),
        }
        if any(case.server == "movierec-unkept" for case in cases):
            unkept = {**env, "RECOMMENDATION_ANSWERS_KEPT": "0"}
            servers_by_name["movierec-unkept"] = servers.enter_context(
                server(movierec_command, unkept, "movierec-unkept")
            )
            wait_ready(f"{servers_by_name['movierec-unkept'].base}/health/ready")
        movierec_base = servers_by_name["movierec"].base
        wait_ready(f"{movierec_base}/health/ready")
        answer = requests.get(f"{movierec_base}/api/v1/user/1/recommendations", timeout=10)
        answer.raise_for_status()
        redis.Redis.from_url(args.redis_url).set(env["BARE_ENDPOINT_KEY"], answer.content)
        wait_ready(f"{servers_by_name['bare'].base}/bare")
        context = prepare_context(movierec_base, env)
        scripts = {}
        for case in cases:
            scripts[case.name] = workdir / f"{case.name}.lua"
            scripts[case.name].write_text(WRK_LUA % {"request": case.lua(context)})
        for case in cases:  # warm every worker's pools and caches; not counted
            run_wrk(servers_by_name[case.server], scripts[case.name], args.connections, args.warmup)

        print(
            f"{len(os.sched_getaffinity(0))} cores, {args.workers} workers per server"
            f"{'' if args.threads is None else f' x {args.threads} threads'}, "
            f"{args.connections} connections, {args.seconds:g}s per measurement, "
            f"{args.rounds} rounds",
            flush=True,
        )
        measured: dict[str, list[dict[str, float]]] = {c.name: [] for c in cases}
        for round_no in range(1, args.rounds + 1):
            for case in cases:
                target, script = servers_by_name[case.server], scripts[case.name]
                row = run_wrk(target, script, args.connections, args.seconds)
                row["p99_1"] = run_wrk(target, script, 1, args.seconds)["p99"]
                measured[case.name].append(row)
                print(
                    f"  round {round_no} {case.name:13} {row['rps']:7.0f} req/s  "
                    f"p50 {row['p50']:6.2f}  p99 {row['p99']:6.2f}  "
                    f"p99@1 {row['p99_1']:6.2f} ms  cpu {row['cpu_ms']:5.2f} ms/req  "
                    f"errors {row['errors']:.0f}",
                    flush=True,
                )
    return measured


def plot(cases: list[Case], summary: dict[str, dict[str, float]], path: Path) -> Path:
    """Two panels per case: throughput relative to the bare endpoint (wrk's, and the CPU
    ratio), and the p99 at one connection, each with its goal drawn across."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [case for case in cases if case.server != "bare"]
    names = [case.name for case in shown]
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    ratio_ax, latency_ax = figure.subplots(1, 2)
    at = range(len(shown))
    ratio_ax.bar([x - 0.2 for x in at], [100 * summary[n]["ratio"] for n in names], 0.4,
                 label="requests/s (wrk)", color="#1f77b4")  # fmt: skip
    ratio_ax.bar([x + 0.2 for x in at], [100 * summary[n]["cpu_ratio"] for n in names], 0.4,
                 label="server CPU per request", color="#9ecae1")  # fmt: skip
    ratio_ax.axhline(100 * READ_GOAL_RATIO, color="#d62728", linestyle="--",
                     label="goal (cached recommendations, movie, top)")  # fmt: skip
    highest = max(100 * max(summary[n]["ratio"], summary[n]["cpu_ratio"]) for n in names)
    ratio_ax.set_ylim(0, max(100, 10 * math.ceil(highest / 10)))
    ratio_ax.set_ylabel("% of the bare Flask endpoint")
    ratio_ax.set_title("Throughput against the bare endpoint")
    ratio_ax.legend(loc="upper right", fontsize="small")
    latency_ax.bar(list(at), [summary[n]["p99_1"] for n in names], 0.6, color="#1f77b4")
    with_goal = [(x, case.goal_p99_ms) for x, case in zip(at, shown, strict=True)
                 if case.goal_p99_ms is not None]  # fmt: skip
    latency_ax.scatter([x for x, _ in with_goal], [ms for _, ms in with_goal], marker="_",
                       s=600, color="#d62728", label="goal", zorder=3)  # fmt: skip
    latency_ax.axhline(summary["bare"]["p99_1"], color="#7f7f7f", linestyle=":", label="bare")
    latency_ax.set_ylabel("p99 at one connection (ms)")
    latency_ax.set_title("Latency")
    latency_ax.legend(loc="upper left", fontsize="small")
    for ax in (ratio_ax, latency_ax):
        ax.set_xticks(list(at), names, rotation=30, ha="right")
    figure.savefig(path, dpi=110)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="Per case and connection count.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds of all cases.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers of each server.")
    parser.add_argument(
        "--threads", type=int, help="gunicorn threads per worker of each server (default: 2)."
    )
    parser.add_argument("--warmup", type=float, default=2, help="Seconds per case, not counted.")
    parser.add_argument(
        "--cases",
        default=",".join(c.name for c in CASES),
        help=f"Comma-separated subset of: {', '.join(c.name for c in CASES)}.",
    )
    parser.add_argument("--json", type=Path, help="Also write every measurement here.")
    parser.add_argument("--plot", type=Path, help="Also draw the summary as a PNG here.")
    add_backend_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "benchmarks/serve.py needs wrk, the HTTP load generator: install it with "
            "`apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)",
            file=sys.stderr,
        )
        sys.exit(2)
    wanted = args.cases.split(",")
    unknown = set(wanted) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    cases = [c for c in CASES if c.name in wanted or c.name == "bare"]

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="movierec-bench-wrk-"))
    try:
        with movielens_stack(args.admin_url, args.redis_url) as stack:
            print(f"prepared {stack.db_name} in {time.perf_counter() - started:.0f}s", flush=True)
            measured = measure(args, cases, stack, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {
        name: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for name, rows in measured.items()
    }
    bare_rps, bare_cpu = summary["bare"]["rps"], summary["bare"]["cpu_ms"]
    print()
    print(
        f"{'case':13} {'what':34} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p99@1 ms':>8} {'vs bare':>7} {'cpu ms':>6} {'cpu vs bare':>11} {'errors':>6} goal"
    )
    for case in cases:
        row = summary[case.name]
        row["ratio"] = row["rps"] / bare_rps
        row["cpu_ratio"] = bare_cpu / row["cpu_ms"]
        print(
            f"{case.name:13} {case.what:34} {row['rps']:7.0f} {row['p50']:7.2f} {row['p99']:7.2f} "
            f"{row['p99_1']:8.2f} {row['ratio']:6.0%} {row['cpu_ms']:6.2f} "
            f"{row['cpu_ratio']:10.0%} {row['errors']:6.0f} {goal(case, row)}"
        )
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rounds": measured}, indent=2))
    if args.plot:
        print(f"plot: {plot(cases, summary, args.plot)}")


if __name__ == "__main__":
    main()
