"""``movierec model evaluate --ranking`` and ``grid-search --ranking``, end to end through click:
the report, its files, reading the database, one-line errors, and --apply feeding the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from movierec.cli.model import model
from movierec.config import Settings, load_settings
from movierec.db import Database
from movierec.recommender.params import RANKER_SETTINGS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ranker settings or parameter files from the developer's shell or working directory."""
    for name in (*RANKER_SETTINGS, "ranker_params_file", "model_params_file"):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MODEL_N_EPOCHS", "5")  # the svd ranker and the blend train it: keep it fast


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(model, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_evaluate_ranking_reports_every_model_next_to_the_popular_list(
    small_movielens: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    code, output = run("evaluate", "--ranking", "--source", str(small_movielens),
                       "--rankers", "puresvd,svd", "--k", "5", "--split", "random",
                       "--json", "--no-progress", "--out", str(out))  # fmt: skip
    assert code == 0, output
    report = json.loads(output[output.index("{") :])
    assert [row["model"] for row in report["results"]] == ["popular", "puresvd", "svd"]
    assert report["k"] == 5 and report["split"] == "random" and report["n_users"] == 60
    popular = report["results"][0]
    assert popular["ndcg_vs_popular"] == 1.0
    for row in report["results"]:
        assert 0 <= row["ndcg_rel"] <= 1 and 0 <= row["coverage"] <= 1
        assert row["distinct_movies"] >= 1
    assert json.loads((out / "ranking_evaluation.json").read_text())["results"] == json.loads(
        json.dumps(report["results"])
    )
    assert (out / "ranking_evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_ranking_table_reads_the_database(
    loaded_db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, output = run("evaluate", "--ranking", "--split", "random", "--no-progress")
    assert code == 0, output
    assert "random split" in output and "from database" in output
    lines = [line for line in output.splitlines() if line.startswith(("popular", "sequential"))]
    assert [line.split()[0] for line in lines] == ["popular", "sequential"]
    assert lines[0].split()[-1] == "1.00"  # the baseline against itself


def test_an_evaluation_of_the_database_is_recorded_for_the_operators(
    loaded_db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    client,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    assert client.get("/api/v1/admin/status").get_json()["latest_evaluation"] is None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, output = run("evaluate", "--ranking", "--split", "random", "--k", "5", "--json",
                       "--no-progress")  # fmt: skip
    assert code == 0, output
    printed = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert "recorded" in output
    latest = client.get("/api/v1/admin/status").get_json()["latest_evaluation"]
    assert (latest["split"], latest["k"], latest["n_users"]) == ("random", 5, printed["n_users"])
    assert latest["n_ratings"] == printed["n_ratings"]
    assert latest["results"] == json.loads(json.dumps(printed["results"]))
    # Evaluating a file is no statement about the service: nothing new is recorded.
    run("evaluate", "--ranking", "--source", str(tmp_path / "none"), "--no-progress")
    assert client.get("/api/v1/admin/status").get_json()["latest_evaluation"] == latest


def test_ranking_errors_are_one_line(small_movielens: Path) -> None:
    code, output = run("evaluate", "--ranking", "--source", str(small_movielens),
                       "--rankers", "svdpp", "--no-progress")  # fmt: skip
    assert code == 1
    assert output.strip().splitlines()[-1].startswith("Error: unknown ranker 'svdpp'")
    code, output = run("grid-search", "--ranking", "--ranker", "puresvd", "--source",
                       str(small_movielens), "--grid", "/nonexistent.toml")  # fmt: skip
    assert code != 0 and "Traceback" not in output


def test_ranking_grid_search_applies_the_winner_to_the_settings(
    small_movielens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text("n_factors = [2, 8]\nrating_weight = [0.0, 0.2]\n")
    target = tmp_path / "ranker.json"
    monkeypatch.setenv("RANKER_PARAMS_FILE", str(target))  # not there yet: --apply creates it
    code, output = run("grid-search", "--ranking", "--ranker", "puresvd", "--source",
                       str(small_movielens), "--grid", str(grid), "--k", "5",
                       "--out", str(tmp_path / "out"), "--no-progress", "--apply")  # fmt: skip
    assert code == 0, output
    results = json.loads((tmp_path / "out" / "ranking_results.json").read_text())
    assert len(results) == 4
    best = max(results, key=lambda row: row["ndcg_rel"])
    written = json.loads(target.read_text())["ranker"]
    assert written["ranker"] == "puresvd"
    assert written["puresvd_factors"] == best["n_factors"]
    assert written["ranker_rating_weight"] == best["rating_weight"]
    settings = load_settings()
    assert settings.puresvd_factors == best["n_factors"]
    assert settings.ranker_params_file == target
    monkeypatch.setenv("PURESVD_FACTORS", "13")  # an explicit setting still wins over the file
    assert load_settings().puresvd_factors == 13
    assert (tmp_path / "out" / "ranking_ndcg.png").is_file()
