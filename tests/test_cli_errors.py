"""Commands run against a database that was never migrated say so in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from movierec.cli import main


@pytest.mark.parametrize(
    "command",
    [["data", "load", "--source", "SMALL"], ["model", "evaluate"]],
    ids=["data load", "model evaluate"],
)
def test_unmigrated_database_asks_for_db_upgrade(
    tmp_path: Path, small_movielens: Path, command: list[str]
) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:9/0",
    }
    args = [str(small_movielens) if arg == "SMALL" else arg for arg in command]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output
    last_line = result.output.strip().splitlines()[-1]
    assert last_line.startswith("Error: the database has no MovieRec schema yet (")
    assert last_line.endswith("run `movierec db upgrade`")
    assert "Traceback" not in result.output
