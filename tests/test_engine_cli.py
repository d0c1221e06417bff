"""``movierec train`` and ``movierec stats``: what operators see, including refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from movierec.cache import CacheStore
from movierec.cli import main
from movierec.config import Settings
from movierec.db import Database


@pytest.fixture
def run(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def invoke(*args: str, database_url: str | None = None):  # type: ignore[no-untyped-def]
        env = {
            "DATABASE_URL": database_url or settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "DATA_DIR": str(tmp_path),
            "MODEL_N_FACTORS": "8",
            "MODEL_N_EPOCHS": "10",
            "LOG_LEVEL": "WARNING",
        }
        return CliRunner().invoke(main, list(args), env=env)

    return invoke


def test_train_publishes_and_prints_a_summary(run, loaded_db: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    result = run("train", "--no-progress")
    assert result.exit_code == 0, result.output
    version = cache.current_version("recs")
    assert version and f"recommendations {version}: 60 users x 120 movies" in result.output
    assert "train RMSE" in result.output and "score" in result.output


def test_train_refuses_while_another_refresh_runs(  # type: ignore[no-untyped-def]
    run, loaded_db: Database, cache: CacheStore
) -> None:
    with cache.hold_lock("recommendations"):
        result = run("train", "--no-progress")
    assert result.exit_code == 1
    assert result.output.startswith("Error: another recommendations job is running (lock ")
    assert len(result.output.strip().splitlines()) == 1
    assert cache.current_version("recs") is None


def test_train_without_ratings_says_so(run, db: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    result = run("train", "--no-progress")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: there are no ratings in the database to train on"


def test_train_on_an_old_schema_asks_for_an_upgrade(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("train", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.exit_code == 1
    assert "run `movierec db upgrade`" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_stats_publishes_the_statistics(run, loaded_db: Database, cache: CacheStore) -> None:  # type: ignore[no-untyped-def]
    result = run("stats")
    assert result.exit_code == 0, result.output
    assert f"statistics {cache.current_version('stats')}: 120 movies" in result.output
    assert len(cache.top_movies(0, 500)) == 120
