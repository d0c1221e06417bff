"""``movierec experiment report`` and ``show``: the report drains first, prints a table or one
JSON object, and fails with one line (PostgreSQL + Redis and the embedded stack)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from movierec.cache import CacheStore
from movierec.cache.impressions import Click, ImpressionStream, Shown
from movierec.cli import main
from movierec.config import Settings
from movierec.db import Database
from movierec.services.impressions import fingerprint


@pytest.fixture
def run(settings: Settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    def invoke(*args: str, **env: str):  # type: ignore[no-untyped-def]
        values = {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "REDIS_KEY_PREFIX": settings.redis_key_prefix,
            "DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        return CliRunner().invoke(main, list(args), env=values)

    return invoke


def _waiting(cache: CacheStore) -> None:
    """Two answers of an experiment's arms and a click, waiting in the stream."""
    now = time.time() - 60
    entries: list[tuple[float, Shown | Click]] = []
    for user, arm in ((1, "puresvd"), (2, "popular")):
        movies = [10, 20, 30]
        entries.append(
            (now, Shown(user, tuple(movies), 0, "model", arm, arm, "ab", "v",
                        fingerprint(user, arm, 0, movies)))
        )  # fmt: skip
    entries.append((now + 1, Click(1, 20, None)))
    ImpressionStream(cache).append(entries)


def test_report_drains_first_then_prints_the_arms(  # type: ignore[no-untyped-def]
    run, loaded_db: Database, cache: CacheStore
) -> None:
    _waiting(cache)
    result = run("experiment", "report", "--days", "1", EXPERIMENT="ab:puresvd=50,popular=50")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("impressions drain: 3 entries read (2 impressions")
    assert "1 outcomes attributed" in lines[0]
    rows = [line.split() for line in lines if line.startswith("ab ")]
    assert [row[1] for row in rows] == ["puresvd", "popular"]  # the experiment's order
    assert [row[3:7] for row in rows] == [["1", "1", "3", "1"], ["1", "1", "3", "0"]]
    assert any("not significant" in line for line in lines)
    assert ImpressionStream(cache).length() == 0

    as_json = run("experiment", "report", "--json", "--no-drain", "--resamples", "200")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["days"] == 7 and document["resamples"] == 200
    assert {arm["arm"]: arm["clicks"] for arm in document["arms"]} == {"puresvd": 1, "popular": 0}


def test_report_fails_in_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = run("experiment", "report", "--days", "0")
    assert bad.exit_code == 2 and "--days" in bad.output
    unmigrated = run("experiment", "report", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert unmigrated.exit_code == 1
    assert unmigrated.output.strip().endswith("run `movierec db upgrade`")
    assert len(unmigrated.output.strip().splitlines()) <= 2  # a drain warning, then the error


def test_show_prints_the_configured_experiment(run) -> None:  # type: ignore[no-untyped-def]
    shown = run("experiment", "show", EXPERIMENT="ab:puresvd=3,popular=1")
    assert shown.exit_code == 0
    assert shown.output.splitlines() == [
        "experiment ab: puresvd (puresvd) 75%, popular (popular) 25%",
        "  puresvd: puresvd, 75.0%",
        "  popular: popular, 25.0%",
    ]
    assert run("experiment", "show").output.startswith("no experiment: every user gets")
    bad = run("experiment", "show", EXPERIMENT="ab:nope=1,popular=1")
    assert bad.exit_code == 2 and bad.output.startswith("Error: invalid setting EXPERIMENT:")
