"""Profile: the CPU a request of each hot endpoint costs in process, and where it goes.

    python benchmarks/profile_serve.py [--requests 100] [--rounds 7] [--cases recs-cached,top,...]
                                       [--top 15]

The same throwaway stack as benchmarks/serve.py (stack.py: a PostgreSQL database and a Redis
key prefix of its own, ml-latest-small loaded, both refreshes run), served by ``create_app``
through Flask's test client: no gunicorn, no sockets to the client, so what is measured is the
app's own work plus its round trips to PostgreSQL and Redis.

Per case: a cProfile run on CPU time, shown as the share of each library (by the path of the
code that spent it), the functions with the most own time, and MovieRec's functions by
cumulative time; then the CPU time of this process per request (``time.process_time``, no
profiler running) over ``--rounds`` rounds of every case in turn, as the minimum (the cost
undisturbed: on a shared machine the same code can take twice as long from one minute to
the next) and the median.
The requests of a case are the same as serve.py's (``serve.prepare_users``): cached lists of
existing users (``recs-cached`` answered from the finished answers the app keeps once warm,
``recs-built`` by a second app that keeps none, so every answer is built; ``recs-cached-off``
and ``recs-cached-every`` by apps that record no impressions and every answer: what recording
costs, the flushing thread's CPU included, as it runs in this process), fold-in answers
of users who rated since the refresh, cold start of new users; each recommendations case first
checks that its answers are of that kind. As in a gunicorn worker, BLAS runs one thread; the
catalogue holds every movie first (a worker's steady state).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from itertools import cycle, islice
from pathlib import Path

from serve import prepare_users
from stack import add_backend_arguments, movielens_stack
from threadpoolctl import threadpool_limits

CASES = [
    "recs-cached", "recs-built", "recs-cached-off", "recs-cached-every", "recs-fold-in",
    "recs-cold", "movie", "top", "top-20", "rate",
]  # fmt: skip
# Cases served by an app of other settings than the default's: one that keeps no finished
# answers, one that records no impressions, one that records every answer (no dedup window).
VARIANTS = {
    "recs-built": {"recommendation_answers_kept": 0},
    "recs-cached-off": {"impressions": "off"},
    "recs-cached-every": {"impressions_dedup_seconds": 0},
}
# The cases that ask the users of cached lists again and again.
CACHED_CASES = {"recs-cached", "recs-built", "recs-cached-off", "recs-cached-every"}

# Where a function's file lives -> the name it is counted under.
AREAS = [
    ("movierec", "movierec"),
    ("sqlalchemy", "sqlalchemy"),
    ("psycopg", "psycopg"),
    ("redis", "redis"),
    ("pydantic", "pydantic"),
    ("flask_openapi3", "flask-openapi3"),
    ("werkzeug", "werkzeug"),
    ("flask", "flask"),
    ("numpy", "numpy"),
    ("prometheus_client", "prometheus"),
    ("logging", "logging"),
    ("socket", "sockets"),
]


def area(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    for part, name in AREAS:
        if f"/{part}/" in filename or filename.endswith(f"/{part}.py"):
            return name
    return "other"


def requests_of(case: str, users: dict[str, list[int]], movies: list[int]) -> Iterator[tuple]:
    """(method, path, json body or None), endlessly."""
    if case.startswith("recs-"):
        kind = "cached" if case in CACHED_CASES else case.removeprefix("recs-")
        for user in cycle(users[kind]):
            yield "GET", f"/api/v1/user/{user}/recommendations", None
    elif case == "movie":
        for movie in cycle(movies):
            yield "GET", f"/api/v1/movie/{movie}", None
    elif case == "top":
        while True:
            yield "GET", "/api/v1/movies/top", None
    elif case == "top-20":
        while True:
            yield "GET", "/api/v1/movies/top?limit=20", None
    elif case == "rate":
        for step, user in enumerate(cycle(users["rate"]), 1):
            body = {"movie_id": movies[(step * 7919) % len(movies)], "rating": 0.5 + step % 10 / 2}
            yield "PUT", f"/api/v1/user/{user}/rating", body


def run(client, requests: Iterator[tuple], n: int, check: Callable | None = None) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        method, path, body = next(requests)
        response = client.open(path, method=method, json=body)
        if response.status_code != 200:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.get_data()[:300]}")
        if check is not None:
            check(response.get_json())


EXPECTED_SOURCE = {
    **{case: "model" for case in CACHED_CASES}, "recs-fold-in": "fold_in", "recs-cold": "popular"
}  # fmt: skip


def warm(client, case: str, requests: Iterator[tuple], n: int) -> None:  # type: ignore[no-untyped-def]
    """Pools, catalogue, model, compiled statements; and a check that the answers of a
    recommendations case are of the kind it measures."""
    if case in EXPECTED_SOURCE:

        def check(answer: dict) -> None:
            if answer["source"] != EXPECTED_SOURCE[case]:
                raise SystemExit(f"{case}: an answer's source is {answer['source']!r}")

        run(client, requests, 20, check)
    run(client, requests, n)


def cpu_ms_per_request(client, requests: Iterator[tuple], n: int) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    run(client, requests, n)
    return (time.process_time() - started) * 1000 / n


def profile_case(client, case: str, requests: Iterator[tuple], n: int, top: int) -> None:  # type: ignore[no-untyped-def]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    run(client, requests, n)
    profiler.disable()
    stats = pstats.Stats(profiler)
    by_area: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_area[area(filename)] += tottime
        total += tottime
    shares = sorted(by_area.items(), key=lambda x: -x[1])
    print(f"\n== {case}: profiled, {n} requests")
    print("   " + ", ".join(f"{name} {t / total:.0%}" for name, t in shares if t / total >= 0.01))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"movierec/(?!api/__init__)", top)


def write_answers(client, path: Path, cases: list[str], users, movies) -> None:  # type: ignore[no-untyped-def]
    extra = [
        ("GET", "/api/v1/movies/top?limit=7&offset=3&genres=Comedy", None),
        ("GET", f"/api/v1/user/{users['cached'][0]}/recommendations?limit=30&offset=5", None),
        ("GET", f"/api/v1/user/{users['fold-in'][0]}/recommendations?genres=Drama,Crime", None),
        ("GET", f"/api/v1/user/{users['cold'][0]}/recommendations?year_min=1990", None),
        ("GET", "/api/v1/user/999999/recommendations", None),
        ("GET", "/api/v1/movies/top?limit=0", None),
    ]
    asked = [
        r for case in cases if case != "rate" for r in islice(requests_of(case, users, movies), 50)
    ]
    with path.open("w") as out:
        for method, target, body in asked + extra:
            response = client.open(target, method=method, json=body)
            out.write(f"{method} {target} {response.status_code} {response.get_data(True)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="Per case and round.")
    parser.add_argument("--rounds", type=int, default=7, help="Timed rounds of every case.")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--answers",
        type=Path,
        help="Write every read case's answers (status, body) for 50 of its requests here, to "
        "compare two versions' answers byte for byte (the data and models are the same).",
    )
    parser.add_argument("--top", type=int, default=15, help="Functions shown per listing.")
    add_backend_arguments(parser)
    args = parser.parse_args()
    cases = args.cases.split(",")
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")

    with movielens_stack(args.admin_url, args.redis_url) as stack:
        from movierec.app import create_app
        from movierec.config import load_settings

        keys = ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "LOG_LEVEL")
        settings = load_settings(**{key: stack.env[key] for key in keys})
        app = create_app(settings)
        client = app.test_client()
        variants = {
            case: create_app(settings.model_copy(update=update))
            for case, update in VARIANTS.items()
            if case in cases
        }
        users, movies = prepare_users(_TestClientSession(client), stack.env)
        # As in a gunicorn worker (gunicorn.conf.py's post_fork): one BLAS thread.
        threadpool_limits(1, "blas")
        # A worker's steady state: every movie's details kept by its catalogue.
        for each in (app, *variants.values()):
            each.extensions["movierec.catalogue"].movies_by_ids(movies)
        clients = {case: variants.get(case, app).test_client() for case in cases}
        if args.answers:  # before anything else: the same state in every run
            write_answers(client, args.answers, cases, users, movies)
        streams = {case: requests_of(case, users, movies) for case in cases}
        for case in cases:
            # The cached cases: every user once, so that the timed answers are the kept ones.
            kept = case in CACHED_CASES - {"recs-built"}
            n = len(users["cached"]) if kept else args.requests // 2
            warm(clients[case], case, streams[case], n)
        # Timed rounds, each case in turn (a neighbour's load then hits all cases alike); the
        # minimum is the cost undisturbed, the median what a round typically took.
        timed: dict[str, list[float]] = {case: [] for case in cases}
        for _ in range(args.rounds):
            for case in cases:
                timed[case].append(cpu_ms_per_request(clients[case], streams[case], args.requests))
        for case in cases:
            profile_case(clients[case], case, streams[case], 3 * args.requests, args.top)
        print("\nCPU ms per request of this process (no profiler), over", args.rounds,
              "rounds of", args.requests, "requests:")  # fmt: skip
        for case in cases:
            rounds = timed[case]
            print(f"  {case:13} min {min(rounds):5.2f}  median {statistics.median(rounds):5.2f}")
        for each in (app, *variants.values()):
            each.extensions["movierec.impressions"].close()
            each.extensions["movierec.db"].dispose()
            each.extensions["movierec.cache"].close()


class _TestClientSession:
    """What ``serve.prepare_users`` needs of an HTTP client (``put``, ``get``), on the test
    client: the paths are the same, without a base URL."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client

    def put(self, path: str, json: dict) -> dict:
        response = self.client.put(path, json=json)
        if response.status_code not in (200, 201):
            raise SystemExit(f"PUT {path}: {response.status_code} {response.get_data()[:300]}")
        return response.get_json()

    def get(self, path: str) -> dict:
        response = self.client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.get_data()[:300]}")
        return response.get_json()


if __name__ == "__main__":
    sys.exit(main())
