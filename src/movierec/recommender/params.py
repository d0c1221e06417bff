"""The model-parameters file: the grid search's winner, read by the settings (MODEL_PARAMS_FILE).

Kept free of numpy/numba imports because the settings read it at start-up.

Format (JSON; a ``.toml`` file with a ``[model]`` table works too)::

    {"model": {"n_factors": 50, "n_epochs": 50, "lr_all": 0.008, "reg_all": 0.2,
               "random_state": 0},
     "selection": {...how it was chosen: metrics, folds, seed, data...}}
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

# Model parameter -> its setting (environment variable MODEL_...).
SETTINGS_FIELDS = {
    "n_factors": "model_n_factors",
    "n_epochs": "model_n_epochs",
    "lr_all": "model_lr_all",
    "reg_all": "model_reg_all",
    "random_state": "model_random_state",
}
DEFAULT_FILE_NAME = "model-params.json"


class ParamsFileError(ValueError):
    """The parameters file is missing or malformed; the message is one line naming the file."""


def _check_value(path: Path, name: str, value: Any) -> int | float | None:
    if name == "random_state" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamsFileError(f"{path}: model.{name} must be a number, not {value!r}")
    if name in ("n_factors", "n_epochs", "random_state"):
        lowest = 0 if name == "random_state" else 1
        if value != int(value) or value < lowest:
            kind = "a non-negative" if lowest == 0 else "a positive"
            raise ParamsFileError(f"{path}: model.{name} must be {kind} integer")
        return int(value)
    if value < 0 or (name == "lr_all" and value == 0):
        raise ParamsFileError(
            f"{path}: model.{name} must be {'> 0' if name == 'lr_all' else '>= 0'}"
        )
    return float(value)


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsFileError(f"{path}: parameters file not found") from None
    except OSError as error:
        raise ParamsFileError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise ParamsFileError(f"{path}: invalid {kind} ({error})") from None


def _write_document(path: Path, document: Mapping[str, Any]) -> Path:
    # Atomically, so a service starting at the same moment never reads half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def read_params_file(path: Path) -> dict[str, Any]:
    """The ``model`` table of a parameters file, checked: {n_factors: 50, ...}."""
    path = Path(path)
    model = _read_table(path, "model", SETTINGS_FIELDS)
    return {name: _check_value(path, name, value) for name, value in model.items()}


def _read_table(path: Path, name: str, allowed: Iterable[str]) -> dict[str, Any]:
    """Table ``name`` of a parameters file; a name not in ``allowed`` is an error."""
    document = _read_document(path)
    table = document.get(name) if isinstance(document, dict) else None
    if not isinstance(table, dict):
        raise ParamsFileError(f"{path}: no {name!r} table with the parameters")
    allowed = list(allowed)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        listed = ", ".join(allowed)
        raise ParamsFileError(f"{path}: unknown parameter {unknown[0]!r} (allowed: {listed})")
    return dict(table)


def write_params_file(
    path: Path, params: Mapping[str, Any], selection: Mapping[str, Any] | None = None
) -> Path:
    """Write the parameters (and how they were chosen) atomically, so a service starting at the
    same moment never reads half a file."""
    path = Path(path)
    unknown = set(params) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not model parameters: {sorted(unknown)}")
    return _write_document(path, {"model": dict(params), "selection": dict(selection or {})})


def _chosen_file(
    given: Mapping[str, Any], setting: str, default_dir: Path, default_name: str
) -> Path | None:
    """The file named by ``setting`` when given (it must then exist), else
    ``<DATA_DIR>/<default_name>`` when that exists (where ``--apply`` writes by default)."""
    explicit = given.get(setting)
    if explicit not in (None, ""):
        return Path(explicit)
    path = Path(given.get("data_dir") or default_dir) / default_name
    return path if path.is_file() else None


def settings_from_params_file(data: Mapping[str, Any], default_dir: Path) -> dict[str, Any]:
    """Settings input with the file's parameters filled in where no MODEL_* value was given.

    ``data`` holds only the values given explicitly (environment or keyword), keyed by lower-
    case field name, so "not in data" means "would fall back to the code default". The file is
    MODEL_PARAMS_FILE when given (it must then exist), else ``<DATA_DIR>/model-params.json``
    when that exists (where ``grid-search --apply`` writes without MODEL_PARAMS_FILE).
    """
    return _fill_from_file(
        data, "model_params_file", default_dir, DEFAULT_FILE_NAME,
        lambda path: {SETTINGS_FIELDS[k]: v for k, v in read_params_file(path).items()},
    )  # fmt: skip


def _fill_from_file(
    data: Mapping[str, Any],
    setting: str,
    default_dir: Path,
    default_name: str,
    read: Callable[[Path], dict[str, Any]],
) -> dict[str, Any]:
    """``data`` with the settings ``read`` from the file named by ``setting`` (or the default
    file in DATA_DIR) filled in where ``data`` gives none; ``setting`` set to the file used."""
    given = {str(key).lower(): value for key, value in data.items()}
    merged = {key: value for key, value in data.items() if str(key).lower() != setting}
    path = _chosen_file(given, setting, default_dir, default_name)
    if path is None:
        return merged
    for name, value in read(path).items():
        if name not in given:
            merged[name] = value
    merged[setting] = path
    return merged


# -- the ranking model's file ----------------------------------------------------------------

# The settings a ranker file may set: its "ranker" table uses their names (lower case), so the
# settings' own validation checks the values.
RANKER_SETTINGS = (
    "ranker",
    "ranker_rating_weight",
    "puresvd_factors",
    "puresvd_weighting",
    "puresvd_popularity_damping",
    "als_factors",
    "als_regularization",
    "als_alpha",
    "als_iterations",
    "ease_lambda",
    "ease_max_movies",
    "sequential_window",
    "sequential_successors",
    "sequential_recent",
    "sequential_recent_decay",
    "sequential_transition_weight",
    "sequential_taste_items",
    "sequential_taste_regularization",
    "sequential_taste_damping",
    "sequential_taste_weight",
)
RANKER_FILE_NAME = "ranker-params.json"
# Each ranker's parameters -> the settings that hold them.
RANKER_PARAM_SETTINGS: dict[str, dict[str, str]] = {
    "puresvd": {
        "n_factors": "puresvd_factors",
        "weighting": "puresvd_weighting",
        "popularity_damping": "puresvd_popularity_damping",
        "rating_weight": "ranker_rating_weight",
    },
    "als": {
        "n_factors": "als_factors",
        "regularization": "als_regularization",
        "alpha": "als_alpha",
        "iterations": "als_iterations",
        "rating_weight": "ranker_rating_weight",
    },
    "sequential": {
        "n_factors": "puresvd_factors",
        "weighting": "puresvd_weighting",
        "window": "sequential_window",
        "successors": "sequential_successors",
        "recent": "sequential_recent",
        "recent_decay": "sequential_recent_decay",
        "transition_weight": "sequential_transition_weight",
        "taste_items": "sequential_taste_items",
        "taste_regularization": "sequential_taste_regularization",
        "taste_damping": "sequential_taste_damping",
        "taste_weight": "sequential_taste_weight",
        "rating_weight": "ranker_rating_weight",
    },
    "ease": {
        "regularization": "ease_lambda",
        "max_items": "ease_max_movies",
        "rating_weight": "ranker_rating_weight",
    },
}


def ranker_settings_of(ranker: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings (ranker file table) that select ``ranker`` with ``params``; parameters
    that have no setting (e.g. ALS's seed, which follows MODEL_RANDOM_STATE) are left out."""
    names = RANKER_PARAM_SETTINGS.get(ranker, {})
    return {"ranker": ranker} | {names[key]: value for key, value in params.items() if key in names}


def read_ranker_file(path: Path) -> dict[str, Any]:
    """The ``ranker`` table of a ranker parameters file: {ranker: "puresvd", ...}."""
    return _read_table(Path(path), "ranker", RANKER_SETTINGS)


def write_ranker_file(
    path: Path, values: Mapping[str, Any], selection: Mapping[str, Any] | None = None
) -> Path:
    """Write the ranker settings (and how they were chosen) atomically."""
    unknown = set(values) - set(RANKER_SETTINGS)
    if unknown:
        raise ValueError(f"not ranker settings: {sorted(unknown)}")
    return _write_document(Path(path), {"ranker": dict(values), "selection": dict(selection or {})})


def settings_from_ranker_file(data: Mapping[str, Any], default_dir: Path) -> dict[str, Any]:
    """Settings input with the ranker file's values filled in where none was given explicitly:
    RANKER_PARAMS_FILE when given, else ``<DATA_DIR>/ranker-params.json`` when it exists."""
    return _fill_from_file(
        data, "ranker_params_file", default_dir, RANKER_FILE_NAME, read_ranker_file
    )
