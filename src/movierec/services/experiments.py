"""A/B experiments between rankers: which arm a user is in.

An experiment is a name and its arms, each a ranker (by its ``RANKER`` name) with a weight:
``EXPERIMENT="ab1:puresvd=50,popular=50"``, or ``EXPERIMENT_FILE`` naming a JSON file that may
also give an arm a name of its own and ranker parameters (two arms of one ranker, tuned
differently)::

    {"name": "factors", "arms": [
        {"arm": "f24", "ranker": "puresvd", "weight": 50, "params": {"n_factors": 24}},
        {"arm": "f64", "ranker": "puresvd", "weight": 50, "params": {"n_factors": 64}}]}

Users are split by a hash of the experiment's name and their id: the same user is in the same
arm in every process and at every refresh while the experiment is unchanged, a new experiment
name reshuffles everyone, and the shares follow the weights (relative: 1/1 is 50/50). The
refresh trains each arm's ranker and publishes every user the list of their arm, with the
experiment itself (``to_dict``), so that the web tier folds a user in with their arm's model and
records the arm of every answer from what was published, never from its own settings.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The arm of an answer served without an experiment is the ranker's name; "-" when no model
# was published yet (the popular movies of a first start).
NO_RANKER = "-"


class ExperimentError(ValueError):
    """An experiment definition that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Arm:
    name: str
    ranker: str
    weight: float
    # Ranker parameters over the settings' (RANKER settings of that ranker): file form only.
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str
    arms: tuple[Arm, ...]

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ExperimentError(
                f"experiment name {self.name!r}: letters, digits, '_', '.' and '-', up to 64"
            )
        if len(self.arms) < 2:
            raise ExperimentError("an experiment needs at least two arms")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ExperimentError(
                f"arm names must differ ({', '.join(names)}): name arms in an EXPERIMENT_FILE "
                "to try one ranker twice"
            )
        for arm in self.arms:
            if not NAME.fullmatch(arm.name):
                raise ExperimentError(f"arm name {arm.name!r}: letters, digits, '_', '.', '-'")
            if not arm.weight > 0 or arm.weight == float("inf"):
                raise ExperimentError(f"arm {arm.name}: the weight must be > 0, not {arm.weight}")
        total = sum(arm.weight for arm in self.arms)
        # Cumulative upper bounds of each arm's share of [0, 1), for bisect.
        bounds, running = [], 0.0
        for arm in self.arms[:-1]:
            running += arm.weight / total
            bounds.append(running)
        object.__setattr__(self, "_bounds", bounds)

    def share(self, arm: Arm) -> float:
        return arm.weight / sum(a.weight for a in self.arms)

    def arm_of(self, user_id: int) -> Arm:
        """The user's arm: deterministic in (experiment name, user id)."""
        return self.arms[bisect_right(self._bounds, unit_hash(f"{self.name}:{user_id}"))]  # type: ignore[attr-defined]

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)

    def describe(self) -> str:
        arms = ", ".join(
            f"{arm.name} ({arm.ranker}) {100 * self.share(arm):.0f}%" for arm in self.arms
        )
        return f"experiment {self.name}: {arms}"

    # -- published with each recommendations version ---------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arms": [
                {"arm": a.name, "ranker": a.ranker, "weight": a.weight, "params": a.params}
                for a in self.arms
            ],
        }

    @classmethod
    def from_dict(cls, document: Any) -> Experiment:
        if not isinstance(document, dict):
            raise ExperimentError("an experiment is a JSON object with 'name' and 'arms'")
        name, arms = document.get("name"), document.get("arms")
        if not isinstance(name, str) or not isinstance(arms, list):
            raise ExperimentError("an experiment needs a 'name' (text) and 'arms' (a list)")
        parsed = []
        for entry in arms:
            if not isinstance(entry, dict) or not isinstance(entry.get("ranker"), str):
                raise ExperimentError("each arm is an object with a 'ranker' (and 'weight')")
            unknown = set(entry) - {"arm", "ranker", "weight", "params"}
            if unknown:
                raise ExperimentError(f"arm fields are arm, ranker, weight, params: not {unknown}")
            params = entry.get("params") or {}
            if not isinstance(params, dict):
                raise ExperimentError(f"arm {entry['ranker']}: 'params' must be an object")
            weight = entry.get("weight", 1)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ExperimentError(f"arm {entry['ranker']}: 'weight' must be a number")
            name_of_arm = str(entry.get("arm") or entry["ranker"])
            parsed.append(Arm(name_of_arm, entry["ranker"], float(weight), params))
        return cls(name, tuple(parsed))


def unit_hash(text: str) -> float:
    """A number in [0, 1), uniform and the same in every process (Python's ``hash`` is not)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def parse_experiment(spec: str) -> Experiment:
    """``name:ranker=weight,ranker=weight``; weights are numbers > 0 (relative shares)."""
    name, colon, arms_text = spec.strip().partition(":")
    if not colon or not arms_text.strip():
        raise ExperimentError(
            f"{spec!r} is not NAME:RANKER=WEIGHT,RANKER=WEIGHT (e.g. ab1:puresvd=50,popular=50)"
        )
    arms = []
    for item in arms_text.split(","):
        ranker, equals, weight_text = item.strip().partition("=")
        if not equals:
            raise ExperimentError(f"arm {item.strip()!r} is not RANKER=WEIGHT")
        try:
            weight = float(weight_text)
        except ValueError:
            raise ExperimentError(
                f"arm {ranker.strip()}: weight {weight_text!r} is no number"
            ) from None
        arms.append(Arm(ranker.strip(), ranker.strip(), weight))
    return Experiment(name.strip(), tuple(arms))


def read_experiment_file(path: Path) -> Experiment:
    """A JSON experiment (``Experiment.from_dict``), or the one-line form."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ExperimentError(f"cannot read {path}: {error.strerror or error}") from None
    if not text.lstrip().startswith("{"):
        return parse_experiment(text)
    try:
        return Experiment.from_dict(json.loads(text))
    except json.JSONDecodeError as error:
        raise ExperimentError(f"{path}: not JSON ({error})") from None


def check_rankers(experiment: Experiment) -> Experiment:
    """Every arm's ranker exists and takes the parameters given (a typo is an error, not a
    ranker silently trained with its defaults)."""
    from movierec.recommender.ranker_registry import RANKERS, ranker_params
    from movierec.recommender.ranking import RankerError

    for arm in experiment.arms:
        if arm.ranker not in RANKERS:
            raise ExperimentError(
                f"arm {arm.name}: unknown ranker {arm.ranker!r} (one of {', '.join(RANKERS)})"
            )
        try:
            ranker_params(arm.ranker, arm.params)
        except RankerError as error:
            raise ExperimentError(f"arm {arm.name}: {error}") from None
    return experiment


def configured_experiment(spec: str | None, path: Path | None) -> Experiment | None:
    """The experiment of the settings (EXPERIMENT, else EXPERIMENT_FILE), checked; None."""
    if spec and spec.strip():
        return check_rankers(parse_experiment(spec))
    if path is not None:
        return check_rankers(read_experiment_file(path))
    return None
