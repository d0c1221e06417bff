"""A throwaway MovieRec stack for the serving benchmarks (serve.py, serve_workers.py): a
PostgreSQL database and a Redis key prefix of its own, ml-latest-small loaded with the
product's loader and both refreshes run, all removed afterwards."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from shared_data import ML_SMALL
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]  # the environment of MovieRec commands and servers on this stack
    db_name: str
    admin: Engine  # on the server's maintenance database (AUTOCOMMIT)


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "MOVIEREC_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("MOVIEREC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )


def movierec(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "movierec", *args], env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"movierec {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def movielens_stack(admin_url: str, redis_url: str) -> Iterator[Stack]:
    if not (ML_SMALL / "ratings.csv").is_file():
        raise SystemExit(f"ml-latest-small not found in {ML_SMALL.parent} (MOVIEREC_SHARED_DATA)")
    db_name = f"movierec_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{db_name}"'))
    env = {
        **os.environ,
        "DATABASE_URL": make_url(admin_url).set(database=db_name).render_as_string(False),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": db_name,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("WEB_CONCURRENCY", None)
    env.pop("GUNICORN_CMD_ARGS", None)
    try:
        movierec(env, "db", "upgrade")
        movierec(env, "data", "load", "--source", str(ML_SMALL))
        movierec(env, "stats")
        movierec(env, "train", "--no-progress")
        yield Stack(env, db_name, admin)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{db_name}:*", count=1000):
            client.delete(key)
        client.close()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
