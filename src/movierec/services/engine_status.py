"""What the recommendation engine is serving and doing: for operators and probes."""

from __future__ import annotations

from dataclasses import dataclass

from movierec.cache import CacheStore
from movierec.db import Database
from movierec.db.models import ModelRun, RankingEvaluation
from movierec.db.repositories import evaluations, model_runs
from movierec.jobs.refresh import RECOMMENDATIONS_JOB, STATISTICS_JOB


@dataclass(frozen=True)
class EngineStatus:
    current_model: ModelRun | None  # the run whose lists readers get now
    latest_run: ModelRun | None
    recent_runs: list[ModelRun]  # newest first, whatever their outcome
    latest_evaluation: RankingEvaluation | None  # of the database's ratings, if any was run
    recommendations_version: str | None
    statistics_version: str | None
    users_with_recommendations: int
    running_recommendations: str | None  # lock holder of a refresh running now
    running_statistics: str | None


RECENT_RUNS = 10


def engine_status(db: Database, cache: CacheStore) -> EngineStatus:
    recommendations_version = cache.current_version("recs")
    with db.session() as session:
        current = (
            model_runs.get_run(session, recommendations_version)
            if recommendations_version
            else None
        )
        recent = model_runs.latest_runs(session, limit=RECENT_RUNS)
        evaluation = evaluations.latest_evaluation(session)
    return EngineStatus(
        current_model=current,
        latest_run=next(iter(recent), None),
        recent_runs=recent,
        latest_evaluation=evaluation,
        recommendations_version=recommendations_version,
        statistics_version=cache.current_version("stats"),
        users_with_recommendations=cache.recommendation_users(),
        running_recommendations=cache.lock_holder(RECOMMENDATIONS_JOB),
        running_statistics=cache.lock_holder(STATISTICS_JOB),
    )
