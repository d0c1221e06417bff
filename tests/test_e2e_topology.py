"""End to end, the production topology without Docker: `movierec serve` (gunicorn, 2 workers)
and `movierec scheduler` as separate processes on loopback, over a real PostgreSQL (a throwaway
database) and a real Redis (a key prefix of its own), loaded with ml-latest-small through the
CLI, and driven over HTTP the way a client would.

Run it with `scripts/e2e-topology.sh` (which only sets the environment and calls pytest on this
file), or directly: `pytest tests/test_e2e_topology.py` with MOVIEREC_TEST_DATABASE_URL (an
account that may create databases) and MOVIEREC_TEST_REDIS_URL set. Everything it starts is
stopped, and its database and Redis keys removed, even when it fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import ML_SMALL, throwaway_name
from movierec.cache import CacheStore
from movierec.config import Settings
from process_helpers import ManagedProcess, serve, wait_until, wait_until_ready

ADMIN_URL = os.environ.get("MOVIEREC_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("MOVIEREC_TEST_REDIS_URL")
# Set by scripts/e2e-topology.sh: whoever asks for this test explicitly gets a failure, not a
# skip, when something it needs is missing.
REQUIRED = os.environ.get("MOVIEREC_E2E_REQUIRED") == "1"


def _missing() -> str | None:
    if not (ADMIN_URL and REDIS_URL):
        return "MOVIEREC_TEST_DATABASE_URL and MOVIEREC_TEST_REDIS_URL are not both set"
    if not (ML_SMALL / "ratings.csv").is_file():
        return f"ml-latest-small not found in {ML_SMALL.parent} (set MOVIEREC_SHARED_DATA)"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.movielens]
if _missing() and not REQUIRED:
    pytestmark.append(pytest.mark.skip(reason=f"end-to-end topology test: {_missing()}"))

# Every variable a setting reads, so the host's own environment cannot leak into the services.
SETTING_VARIABLES = {(info.alias or name).upper() for name, info in Settings.model_fields.items()}


@dataclass
class Topology:
    env: dict[str, str]
    log_dir: Path
    cache: CacheStore
    top_n: int
    base_url: str = ""
    web: ManagedProcess | None = None
    schedulers: list[ManagedProcess] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    @property
    def scheduler(self) -> ManagedProcess:
        return self.schedulers[-1]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A one-off `movierec ...` job, as an operator would run it."""
        return subprocess.run(
            [sys.executable, "-m", "movierec", *args],
            env=self.env,
            cwd=self.log_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start_scheduler(self, **settings: str) -> ManagedProcess:
        name = f"scheduler-{len(self.schedulers) + 1}"
        scheduler = ManagedProcess(name, ["scheduler"], {**self.env, **settings}, self.log_dir)
        self.schedulers.append(scheduler)
        scheduler.wait_for_log(r"scheduler started", timeout=120)
        return scheduler


def run_ok(topology: Topology, *args: str) -> str:
    result = topology.run(*args)
    assert result.returncode == 0, f"movierec {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    missing = _missing()
    if missing:
        pytest.fail(f"end-to-end topology test: {missing}")
    assert ADMIN_URL and REDIS_URL
    namespace = throwaway_name("e2e")
    log_dir = tmp_path_factory.mktemp("e2e-topology")
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    redis_client = redis.Redis.from_url(REDIS_URL)
    with ExitStack() as cleanup:
        # Registered first, so they run last: after every process is gone.
        cleanup.callback(admin.dispose)
        cleanup.callback(redis_client.close)
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{namespace}"'))

        def drop_database() -> None:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{namespace}" WITH (FORCE)'))

        def delete_keys() -> None:
            for key in redis_client.scan_iter(match=f"{namespace}:*", count=1000):
                redis_client.delete(key)

        cleanup.callback(drop_database)
        cleanup.callback(delete_keys)

        database_url = make_url(ADMIN_URL).set(database=namespace)
        env = {key: value for key, value in os.environ.items() if key not in SETTING_VARIABLES}
        env.pop("GUNICORN_CMD_ARGS", None)
        env.update(
            DATABASE_URL=database_url.render_as_string(hide_password=False),
            REDIS_URL=REDIS_URL,
            REDIS_KEY_PREFIX=namespace,
            TOP_N=os.environ.get("TOP_N", "20"),
            LOG_LEVEL="INFO",
            SCHEDULER_METRICS_PORT="0",  # its restarts would race for one port; tested elsewhere
        )
        cache = CacheStore(REDIS_URL, namespace)
        cleanup.callback(cache.close)
        topology = Topology(env=env, log_dir=log_dir, cache=cache, top_n=int(env["TOP_N"]))

        run_ok(topology, "db", "upgrade")
        loaded = run_ok(topology, "data", "load", "--source", str(ML_SMALL))
        assert "100,836 ratings" in loaded, loaded

        topology.web, topology.base_url = serve(env, log_dir, workers=2)
        cleanup.callback(topology.web.stop)
        cleanup.callback(lambda: [scheduler.stop() for scheduler in topology.schedulers])
        topology.start_scheduler()
        wait_until_ready(topology.base_url, topology.web, timeout=60)
        # A first start with nothing in Redis refreshes both at once.
        try:
            wait_until(
                lambda: cache.current_version("stats") and cache.current_version("recs"),
                240,
                "the scheduler's first statistics and recommendations",
                interval=0.5,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{topology.scheduler.log_tail()}") from None
        yield topology


def movie_ids(movies: list[dict]) -> list[int]:
    return [movie["movie_id"] for movie in movies]


def get_json(url: str) -> dict:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text}"
    return response.json()


def recommendations(topology: Topology, user_id: int) -> list[int]:
    body = get_json(f"{topology.api}/user/{user_id}/recommendations")
    assert body["user_id"] == user_id
    return movie_ids(body["recommendations"])


def top_movies(topology: Topology, limit: int) -> list[int]:
    body = get_json(f"{topology.api}/movies/top?limit={limit}")
    return [entry["movie"]["movie_id"] for entry in body["top_movies"]]


def refresh_recommendations(topology: Topology, timeout: float = 240) -> str:
    """`movierec train`, retried while a scheduler's refresh holds the job lock."""
    deadline = time.monotonic() + timeout
    while True:
        result = topology.run("train", "--no-progress")
        if result.returncode == 0:
            return result.stdout
        busy = "running" in result.stderr or "held by" in result.stderr
        assert busy and time.monotonic() < deadline, f"movierec train:\n{result.stderr}"
        time.sleep(2)


def test_new_user_from_cold_start_to_personalised_recommendations(topology: Topology) -> None:
    top_n, api = topology.top_n, topology.api

    created = requests.put(f"{api}/user", json={"gender": "F", "year_of_birth": 1990}, timeout=10)
    assert created.status_code in (200, 201), created.text
    user_id = created.json()["user_id"]
    assert user_id > 610  # after every MovieLens user

    # Cold start: the top movies, in their order.
    cold = recommendations(topology, user_id)
    assert cold == top_movies(topology, top_n)

    # Rate three of them and watch two.
    rated, watched = cold[:3], cold[3:5]
    for movie_id, stars in zip(rated, (5.0, 4.5, 1.0), strict=True):
        answer = requests.put(
            f"{api}/user/{user_id}/rating", json={"movie_id": movie_id, "rating": stars}, timeout=10
        )
        assert answer.status_code in (200, 201), answer.text
    for movie_id in watched:
        answer = requests.put(
            f"{api}/user/{user_id}/watched", json={"movie_id": movie_id}, timeout=10
        )
        assert answer.status_code in (200, 201), answer.text
    seen = set(rated + watched)

    # Before any refresh: a list of their own at once, folded in from those five ratings by the
    # workers (from the model the scheduler published), TOP_N long, none of those movies.
    answer = requests.get(f"{api}/user/{user_id}/recommendations", timeout=10)
    assert answer.status_code == 200 and answer.json()["source"] == "fold_in", answer.text
    after = [movie["movie_id"] for movie in answer.json()["recommendations"]]
    assert len(after) == top_n and len(set(after)) == top_n
    assert not seen & set(after)
    assert after != [m for m in top_movies(topology, top_n + len(seen)) if m not in seen][:top_n]
    assert topology.cache.recommendations_for(user_id) is None  # not in the model yet

    # A refresh (what the scheduler does every RECOMMENDATIONS_REFRESH_MINUTES) includes them.
    version = topology.cache.current_version("recs")
    summary = refresh_recommendations(topology)
    assert topology.cache.current_version("recs") != version, summary
    assert topology.cache.recommendations_for(user_id), "the new user has no list of their own"

    personal = recommendations(topology, user_id)
    assert len(personal) == top_n and len(set(personal)) == top_n
    assert not seen & set(personal)
    assert personal == topology.cache.recommendations_for(user_id)[:top_n]  # the model's list
    assert len(set(personal) & set(after)) >= top_n // 2, "the refresh disagrees with fold-in"

    # Delete the user: gone from the API and from the published lists.
    deleted = requests.delete(f"{api}/user/{user_id}", timeout=10)
    assert deleted.status_code == 200, deleted.text
    assert requests.get(f"{api}/user/{user_id}", timeout=10).status_code == 404
    gone = requests.get(f"{api}/user/{user_id}/recommendations", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["status"] == 404
    assert topology.cache.recommendations_for(user_id) is None


class Readers:
    """Client threads reading recommendations and top movies as fast as they can, each request
    on a new connection (so both workers serve), recording every answer that is not right."""

    def __init__(self, topology: Topology, user_ids: list[int], threads: int = 2) -> None:
        self.topology = topology
        self.user_ids = user_ids
        self.failures: list[str] = []
        self.reads = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Readers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _check(self, url: str, key: str) -> None:
        try:
            response = requests.get(url, timeout=10)
            if response.status_code != 200:
                problem = f"{response.status_code} {response.text[:200]}"
            elif len(response.json()[key]) != self.topology.top_n:
                problem = f"{len(response.json()[key])} items instead of {self.topology.top_n}"
            else:
                problem = None
        except (requests.RequestException, ValueError, KeyError) as error:
            problem = f"{type(error).__name__}: {error}"
        with self._lock:
            self.reads += 1
            if problem:
                self.failures.append(f"{time.strftime('%H:%M:%S')} GET {url}: {problem}")

    def _run(self, offset: int) -> None:
        api, n = self.topology.api, 0
        while not self._stop.is_set():
            user_id = self.user_ids[(n + offset) % len(self.user_ids)]
            self._check(f"{api}/user/{user_id}/recommendations", "recommendations")
            self._check(f"{api}/movies/top?limit={self.topology.top_n}", "top_movies")
            n += 1


def test_restarting_the_scheduler_during_a_refresh_never_interrupts_serving(
    topology: Topology,
) -> None:
    cache = topology.cache
    with Readers(topology, user_ids=[1, 2, 3, 4, 5]) as readers:
        # Swap the idle scheduler for one that refreshes every 6 s, so a refresh is due soon.
        assert topology.scheduler.terminate(timeout=60) == 0
        restarted = topology.start_scheduler(RECOMMENDATIONS_REFRESH_MINUTES="0.1")
        # A graceful restart (what `docker compose restart scheduler` sends) in the middle of
        # that refresh: the refresh finishes and publishes, then the process exits cleanly.
        version = cache.current_version("recs")
        restarted.wait_for_log(r"recommendations refresh: starting", timeout=60)
        assert restarted.terminate(timeout=180) == 0, restarted.log_tail()
        assert "recommendations refresh: done" in restarted.log(), restarted.log_tail()
        assert cache.current_version("recs") != version

        # A crash in the middle of a refresh: the version being built is abandoned and the
        # previous one keeps serving.
        crashing = topology.start_scheduler(RECOMMENDATIONS_REFRESH_MINUTES="0.1")
        version = cache.current_version("recs")
        # Killed while training: seconds before anything of the new version is published.
        crashing.wait_for_log(r"recommendations refresh \S+: training", timeout=60)
        os.killpg(crashing.pid, signal.SIGKILL)
        crashing.stop()
        assert cache.current_version("recs") == version

        # And the deployment's scheduler comes back.
        topology.start_scheduler()
        time.sleep(2)
        assert topology.scheduler.running(), topology.scheduler.log_tail()

    assert readers.reads >= 50, f"only {readers.reads} reads: the readers did not really run"
    assert not readers.failures, "\n".join(readers.failures[:20])
    served = [line for line in topology.web.log().splitlines() if '" 500 ' in line]
    assert not served, served[:5]
