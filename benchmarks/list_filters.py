"""Benchmark: the recommendations and top-movies requests with and without genre/year filters
and offsets, on ml-latest-small in PostgreSQL + Redis, through the Flask test client (so the
figures include routing, validation and serialisation, not gunicorn or the network).

Creates a throwaway database and Redis prefix, loads ml-latest-small, publishes statistics and
recommendations with the real jobs, dismisses a few movies for the users, then times each kind
of request over a set of users: median and p99 wall time, and the median CPU time of this
process (routing, validation, SQLAlchemy, decoding; it does not depend on other load on the
machine, the wall time does), in ms:

    python benchmarks/list_filters.py [--admin-url URL] [--redis-url URL] [--data DIR] [--n 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

import redis
from shared_data import ML_SMALL
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from movierec.app import create_app
from movierec.cache import CacheStore
from movierec.config import load_settings
from movierec.data.load import load_movielens
from movierec.db import Database
from movierec.db.migrate import upgrade
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

QUERIES = {
    "recommendations": "/api/v1/user/{user}/recommendations",
    "recommendations genres=Comedy": "/api/v1/user/{user}/recommendations?genres=Comedy",
    "recommendations genres=Film-Noir": "/api/v1/user/{user}/recommendations?genres=Film-Noir",
    "recommendations Drama 1990-1999 offset=40": (
        "/api/v1/user/{user}/recommendations?genres=Drama&year_min=1990&year_max=1999&offset=40"
    ),
    "top movies limit=20": "/api/v1/movies/top?limit=20",
    "top movies genres=Comedy limit=20": "/api/v1/movies/top?genres=Comedy&limit=20",
    "top movies genres=Film-Noir limit=20": "/api/v1/movies/top?genres=Film-Noir&limit=20",
    "dismissed list": "/api/v1/user/{user}/dismissed",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--data", default=str(ML_SMALL))
    parser.add_argument("--n", type=int, default=200, help="requests per kind")
    args = parser.parse_args()

    name = f"movierec_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        settings = load_settings(
            DATABASE_URL=url, REDIS_URL=args.redis_url, REDIS_KEY_PREFIX=name, MODEL_N_EPOCHS="10"
        )
        db, cache = Database(url), CacheStore.from_settings(settings)
        load_movielens(db, str(Path(args.data)), show_progress=False)
        refresh_statistics(db, cache, settings)
        refresh_recommendations(db, cache, settings)
        client = create_app(settings).test_client()
        users = list(range(1, 611, 3))
        top = cache.top_movie_ids(0, 5) or []
        for user in users:  # a few dismissals each, so the exclusion reads the union
            for movie in top:
                client.put(f"/api/v1/user/{user}/dismissed", json={"movie_id": movie})
        print(f"{'request':45} {'median ms':>10} {'p99 ms':>8} {'CPU ms':>8}")
        for label, pattern in QUERIES.items():
            times, cpu = [], []
            for i in range(args.n):
                path = pattern.format(user=users[i % len(users)])
                start, start_cpu = time.perf_counter(), time.thread_time()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.thread_time() - start_cpu) * 1000)
                assert response.status_code == 200, (path, response.get_json())
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            median, median_cpu = statistics.median(times), statistics.median(cpu)
            print(f"{label:45} {median:10.2f} {p99:8.2f} {median_cpu:8.2f}")
        db.dispose()
        client_redis = redis.Redis.from_url(args.redis_url)
        for key in client_redis.scan_iter(match=f"{name}:*", count=1000):
            client_redis.delete(key)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
