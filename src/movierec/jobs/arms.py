"""The ranking models a recommendations refresh trains and publishes: the one ranker of RANKER,
or one per arm of an A/B experiment (EXPERIMENT, ``services.experiments``).

Each arm's ranker is trained on every rating (a model learns from everyone), with the arm's
ranker parameters over the settings', and published with its own servable model (the web tier
folds an arm's users in with it). Every user gets the list of their arm: each arm's ranker
scores every user in row order, and the lists are merged user by user, keeping the one of the
user's arm. That costs one scoring pass per arm (the other lists are dropped; scoring is about
a fifth of a refresh at MovieLens-25M size), with the scoring threads shared between the arms
so that the memory and cores a refresh uses stay what SCORING_MEMORY_MB and SCORING_THREADS
say. The predicted stars come from the one rating model; the reasons ("because you liked")
from each arm's movie space, and "because you just watched" from a sequential arm's own
transition table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from movierec.config import Settings
from movierec.recommender.data import InteractionMatrix
from movierec.recommender.explanations import with_explanations
from movierec.recommender.just_watched import UserFollowers
from movierec.recommender.ranker_registry import build_ranker, ranker_params
from movierec.recommender.ranking import Ranker
from movierec.recommender.scoring import (
    BatchDone,
    RatedItems,
    ScoredList,
    UserList,
    in_chunks,
    iter_top_n,
)
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel
from movierec.services.experiments import Experiment


@dataclass(frozen=True)
class RankerPlan:
    arm: str | None  # the experiment arm; None without an experiment
    name: str  # the ranker's RANKER name
    params: dict[str, Any]


@dataclass(frozen=True)
class FittedRanker:
    plan: RankerPlan
    ranker: Ranker
    fit_seconds: float


@dataclass(frozen=True)
class TrainedRanker:
    plan: RankerPlan
    ranker: Ranker
    serving: bytes  # the servable model's blob (``ServingModel``)
    unit_vectors: np.ndarray | None  # the movie space of the reasons, as the web tier reads it
    fit_seconds: float
    # What "because you just watched" is decided by for every user (a sequential ranker).
    followers: UserFollowers | None = None


def plans(
    settings: Settings,
    experiment: Experiment | None,
    config: Callable[[Settings, str | None], tuple[str, dict[str, Any]]],
) -> list[RankerPlan]:
    """What to train: the RANKER with its settings, or each arm's ranker with the settings
    of that ranker updated with the arm's parameters. ``config``: the refresh's
    ``ranker_config``."""
    if experiment is None:
        return [RankerPlan(None, *config(settings, None))]
    found = []
    for arm in experiment.arms:
        name, params = config(settings, arm.ranker)
        found.append(RankerPlan(arm.name, name, ranker_params(name, {**params, **arm.params})))
    return found


def fit(
    plan: RankerPlan,
    interactions: InteractionMatrix,
    rating_model: FactorModel,
    rating_regularization: float,
    *,
    min_votes: int,
    threads: int,
) -> FittedRanker:
    """The plan's ranker, fitted on every rating."""
    started = time.perf_counter()
    ranker = build_ranker(
        plan.name,
        plan.params,
        rating_model=rating_model,
        rating_regularization=rating_regularization,
        min_votes=min_votes,
        threads=threads,
    ).fit(interactions)
    return FittedRanker(plan, ranker, time.perf_counter() - started)


def servable(
    fitted: FittedRanker,
    rating_model: FactorModel,
    rating_regularization: float,
    ratings_read_at: float,
    catalogue_version: str | None,
    followers: UserFollowers | None = None,
    **published: Any,
) -> TrainedRanker:
    """A fitted ranker (its movies placed as served) with its servable model; ``followers``:
    its users' "just watched" material (``UserFollowers.of``); ``published``: what else the
    model carries (``ServingModel.of``'s keywords: each movie's ratings, the content
    mapping...)."""
    serving = ServingModel.of(
        fitted.ranker, rating_model, rating_regularization, ratings_read_at, catalogue_version,
        **published,
    ).to_bytes()  # fmt: skip
    # The reasons from the vectors as the web tier reads them back, float32 and all.
    unit_vectors = ServingModel.from_bytes(serving).explanation_vectors()
    return TrainedRanker(
        fitted.plan, fitted.ranker, serving, unit_vectors, fitted.fit_seconds, followers
    )


def ranked_lists(
    trained: list[TrainedRanker],
    experiment: Experiment | None,
    excluded: RatedItems,
    n: int,
    *,
    memory_bytes: int,
    threads: int,
    on_batch: BatchDone | None = None,
) -> Iterator[UserList]:
    """Every user's best ``n`` movies by the ranker of their arm, in row order."""
    if experiment is None or len(trained) == 1:
        yield from iter_top_n(
            trained[0].ranker,
            excluded,
            n,
            memory_bytes=memory_bytes,
            threads=threads,
            on_batch=on_batch,
        )
        return
    share = max(1, threads // len(trained))

    def seconds_only(users: int, seconds: float) -> None:
        if on_batch is not None:
            on_batch(0, seconds)  # the users are counted once, by the first arm

    streams = [
        iter_top_n(
            arm.ranker,
            excluded,
            n,
            memory_bytes=memory_bytes,
            threads=share,
            on_batch=on_batch if index == 0 else seconds_only,
        )
        for index, arm in enumerate(trained)
    ]
    position = {arm.plan.arm: index for index, arm in enumerate(trained)}
    for lists in zip(*streams, strict=True):
        user_id = lists[0].user_id
        yield lists[position[experiment.arm_of(user_id).name]]


def explained(
    lists: Iterator[ScoredList],
    trained: list[TrainedRanker],
    experiment: Experiment | None,
    model: FactorModel,
    liked: RatedItems,
    chunk: int = 1024,
) -> Iterator[ScoredList]:
    """Each list with its reasons, from the movie space (and, for a sequential ranker, the
    transition table) of the ranker that made it."""
    if experiment is None or len(trained) == 1:
        first = trained[0]
        yield from with_explanations(
            lists, first.unit_vectors, model, liked, chunk, first.followers
        )
        return
    by_name = {arm.plan.arm: arm for arm in trained}
    for pending in in_chunks(lists, chunk):
        by_arm: dict[str, list[int]] = {}
        for index, scored in enumerate(pending):
            by_arm.setdefault(experiment.arm_of(scored.user_id).name, []).append(index)
        done: list[ScoredList | None] = [None] * len(pending)
        for arm, indices in by_arm.items():
            part = with_explanations(
                iter([pending[i] for i in indices]), by_name[arm].unit_vectors, model, liked,
                chunk, by_name[arm].followers,
            )  # fmt: skip
            for index, scored in zip(indices, part, strict=True):
                done[index] = scored
        yield from done  # type: ignore[misc]


def describe(planned: list[RankerPlan], experiment: Experiment | None) -> str:
    """The rankers as a refresh's summary names them."""
    return planned[0].name if experiment is None else experiment.describe()


def publication(trained: list[TrainedRanker], experiment: Experiment | None) -> dict[str, Any]:
    """``publish_recommendations``'s models: the first arm's as the version's model, the
    experiment and the other arms' models beside it."""
    found: dict[str, Any] = {"model": trained[0].serving}
    if experiment is not None:
        found["experiment"] = experiment.to_dict()
        found["arm_models"] = {arm.plan.arm: arm.serving for arm in trained[1:]}
    return found


def run_record(planned: list[RankerPlan], experiment: Experiment | None) -> dict[str, Any] | None:
    """What ``model_runs.experiment`` keeps of an experiment: each arm's ranker, parameters
    and share."""
    if experiment is None:
        return None
    return {
        "name": experiment.name,
        "arms": [
            {
                "arm": plan.arm,
                "ranker": plan.name,
                "params": plan.params,
                "share": experiment.share(experiment.arm(plan.arm)),  # type: ignore[arg-type]
            }
            for plan in planned
        ],
    }
