"""``movierec model evaluate`` and ``movierec model grid-search``, end to end through click."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from surprise import SVD, Dataset, Reader
from surprise.model_selection import GridSearchCV, KFold
from surprise.model_selection import cross_validate as surprise_cross_validate

from movierec.cli.model import model
from movierec.config import Settings, load_settings
from movierec.db import Database

TINY = ["--n-factors", "4", "--n-epochs", "6", "--lr-all", "0.01", "--reg-all", "0.1"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MODEL_* or parameters file from the developer's shell or working directory."""
    for name in ("MODEL_N_FACTORS", "MODEL_N_EPOCHS", "MODEL_LR_ALL", "MODEL_REG_ALL",
                 "MODEL_RANDOM_STATE", "MODEL_PARAMS_FILE", "DASK_SCHEDULER_ADDRESS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))


def surprise_data(folder: Path) -> Dataset:
    frame = pd.read_csv(folder / "ratings.csv")
    return Dataset.load_from_df(
        frame[["userId", "movieId", "rating"]], Reader(rating_scale=(0.5, 5.0))
    )


def run(*args: str) -> tuple[int, str]:
    """The exit code, and what a script reads: stdout when the command succeeds (stderr says
    what it is doing meanwhile), all of the output when it fails (the error is on stderr)."""
    result = CliRunner().invoke(model, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_evaluate_json_equals_surprise_cross_validate(small_movielens: Path) -> None:
    code, output = run("evaluate", "--source", str(small_movielens), *TINY,
                       "--folds", "4", "--seed", "3", "--jobs", "1", "--json")  # fmt: skip
    assert code == 0, output
    report = json.loads(output)
    theirs = surprise_cross_validate(
        SVD(n_factors=4, n_epochs=6, lr_all=0.01, reg_all=0.1, random_state=3),
        surprise_data(small_movielens),
        measures=["rmse", "mae"],
        cv=KFold(4, random_state=3),
    )
    np.testing.assert_allclose([f["rmse"] for f in report["per_fold"]], theirs["test_rmse"],
                               rtol=0, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose([f["mae"] for f in report["per_fold"]], theirs["test_mae"],
                               rtol=0, atol=1e-12)  # fmt: skip
    assert report["mean_rmse"] == pytest.approx(np.mean(theirs["test_rmse"]), abs=1e-12)
    assert report["std_mae"] == pytest.approx(np.std(theirs["test_mae"]), abs=1e-12)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_evaluate_shows_every_epoch_and_says_what_it_does_on_stderr(
    small_movielens: Path, jobs: str
) -> None:
    args = ["evaluate", "--source", str(small_movielens), *TINY, "--jobs", jobs, "--json"]
    result = CliRunner().invoke(model, [*args, "--progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cross-validating SVD(n_factors=4, n_epochs=6, lr_all=0.01, reg_all=0.1): 3 folds" in (
        result.stderr
    )
    # A bar of the epochs of every fold (3 x 6), not of the folds (every epoch reports:
    # test_model_selection), with the folds done beside it.
    assert "cross-validation" in result.stderr and "18/18" in result.stderr
    assert "epoch/s" in result.stderr and "folds 3/3" in result.stderr
    assert json.loads(result.stdout)["folds"] == 3  # stdout stays the bare JSON
    # Not a terminal and not asked: no bar (scripts, `--json > file`), but what it is doing,
    # a line per fold.
    quiet = CliRunner().invoke(model, args, catch_exceptions=False)
    lines = quiet.stderr.strip().splitlines()
    assert lines[0].startswith("cross-validating SVD(") and str(small_movielens) in lines[0]
    assert [line.split(" done")[0] for line in lines[1:]] == ["fold 1/3", "fold 2/3", "fold 3/3"]
    assert "epoch/s" not in quiet.stderr and "\r" not in quiet.stderr
    scores = [(f["rmse"], f["mae"]) for f in json.loads(result.stdout)["per_fold"]]
    assert [(f["rmse"], f["mae"]) for f in json.loads(quiet.stdout)["per_fold"]] == scores


def test_evaluate_table_uses_the_configured_parameters(
    small_movielens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_N_FACTORS", "3")
    monkeypatch.setenv("MODEL_N_EPOCHS", "4")
    code, output = run("evaluate", "--source", str(small_movielens), "--jobs", "1")
    assert code == 0, output
    assert "SVD(n_factors=3, n_epochs=4, lr_all=0.008, reg_all=0.2)" in output
    lines = output.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["fold", "fold", "fold", "mean", "std"]


def test_evaluate_reads_the_database(
    loaded_db: Database, settings: Settings, small_movielens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, from_db = run("evaluate", *TINY, "--jobs", "1", "--json")
    assert code == 0, from_db
    code, from_files = run("evaluate", "--source", str(small_movielens), *TINY, "--jobs", "1",
                           "--json")  # fmt: skip
    db_report, file_report = json.loads(from_db), json.loads(from_files)
    assert db_report["source"] == "database"
    assert db_report["n_ratings"] == file_report["n_ratings"]
    # Same ratings in the same order (user, movie), so the same folds and the same scores.
    assert db_report["per_fold"][0]["rmse"] == file_report["per_fold"][0]["rmse"]
    assert db_report["mean_mae"] == file_report["mean_mae"]


def test_evaluate_on_an_empty_database_is_a_clear_error(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    code, output = run("evaluate", *TINY)
    assert code == 1
    assert output.strip() == (
        "Error: the database holds no ratings: load some (movierec data load) or pass --source"
    )


def test_grid_search_writes_outputs_and_apply_feeds_the_settings(
    small_movielens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "n_factors = [2, 5]\nn_epochs = [4, 9]\nlr_all = [0.005, 0.02]\nreg_all = [0.1]\n"
    )
    target = tmp_path / "production" / "params.json"  # --apply creates it
    monkeypatch.setenv("MODEL_PARAMS_FILE", str(target))
    out = tmp_path / "out"
    code, output = run("grid-search", "--source", str(small_movielens), "--grid", str(grid),
                       "--jobs", "1", "--out", str(out), "--no-progress", "--apply")  # fmt: skip
    assert code == 0, output

    theirs = GridSearchCV(
        SVD,
        {
            "n_factors": [2, 5],
            "n_epochs": [4, 9],
            "lr_all": [0.005, 0.02],
            "reg_all": [0.1],
            "random_state": [0],
        },  # fmt: skip
        measures=["rmse", "mae"],
        cv=KFold(3, random_state=0),
    )
    theirs.fit(surprise_data(small_movielens))
    expected = {k: v for k, v in theirs.best_params["rmse"].items() if k != "random_state"}

    table = pd.read_csv(out / "results.csv")
    assert len(table) == 8
    np.testing.assert_allclose(table["mean_rmse"], theirs.cv_results["mean_test_rmse"], atol=1e-12)
    assert (out / "rmse_heatmap.png").stat().st_size > 5_000
    winner = json.loads((out / "best_params.json").read_text())["model"]
    assert {k: winner[k] for k in expected} == expected

    settings = load_settings()  # production training reads these
    assert settings.model_params_file == target
    assert (settings.model_n_factors, settings.model_n_epochs) == (
        expected["n_factors"],
        expected["n_epochs"],
    )
    assert settings.model_lr_all == expected["lr_all"]
    monkeypatch.setenv("MODEL_N_FACTORS", "17")
    assert load_settings().model_n_factors == 17  # an explicit variable still wins
    assert "best: " in output and f"applied: production training reads {target}" in output


def test_grid_search_apply_without_params_file_writes_to_data_dir(
    small_movielens: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "grid.json"
    grid.write_text('{"n_factors": [3], "n_epochs": [2, 5], "lr_all": [0.01], "reg_all": [0.2]}')
    code, output = run("grid-search", "--source", str(small_movielens), "--grid", str(grid),
                       "--jobs", "1", "--out", str(tmp_path / "o"), "--apply")  # fmt: skip
    assert code == 0, output
    applied = tmp_path / "data" / "model-params.json"
    assert applied.is_file()
    assert load_settings().model_n_epochs == json.loads(applied.read_text())["model"]["n_epochs"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n_factors = [10", "invalid TOML"),
        ("n_factor = [10]", "unknown parameter 'n_factor'"),
        ("reg_all = []", "empty list"),
    ],
)
def test_bad_grid_file_is_one_line_and_non_zero(
    small_movielens: Path, tmp_path: Path, text: str, message: str
) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    code, output = run("grid-search", "--source", str(small_movielens), "--grid", str(grid))
    assert code != 0
    assert len(output.strip().splitlines()) == 1
    assert output.startswith("Error: ") and message in output and "Traceback" not in output


def test_bad_source_and_unreachable_dask_are_one_line_errors(
    small_movielens: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = run("evaluate", "--source", str(tmp_path / "nowhere"))
    assert code == 1 and output.startswith("Error: ") and len(output.splitlines()) == 1
    monkeypatch.setattr("movierec.recommender.model_selection.DASK_CONNECT_TIMEOUT", "1s")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    grid = tmp_path / "grid.toml"
    grid.write_text("n_factors = [2]\nn_epochs = [2]\nlr_all = [0.01]\nreg_all = [0.1]\n")
    code, output = run("grid-search", "--source", str(small_movielens), "--grid", str(grid),
                       "--no-progress", "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 1 and "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_model_group_is_registered_on_the_main_command() -> None:
    from movierec.cli import main

    if "model" not in main.commands:
        pytest.skip("movierec.cli does not register the model group yet")
    assert main.commands["model"] is model
