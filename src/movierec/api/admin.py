"""Engine status for operators: GET /api/v1/admin/status."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.admin import (
    CacheVersionsOut,
    EngineStatusOut,
    ModelRunOut,
    RankingEvaluationOut,
    RunningJobsOut,
)
from movierec.db.models import RankingEvaluation
from movierec.extensions import get_cache, get_db
from movierec.services.engine_status import engine_status

admin = api_blueprint("admin", __name__, "Operations: what the recommendation engine serves")


@admin.get("/admin/status", responses={200: EngineStatusOut, **errors(503)})
def get_engine_status():  # type: ignore[no-untyped-def]
    """The model behind the recommendations served now (parameters, sizes, timings, training
    RMSE), the latest run whatever its outcome, the cache versions in use and any refresh
    running now."""
    status = engine_status(get_db(), get_cache())
    return respond(
        EngineStatusOut(
            current_model=_run(status.current_model) if status.current_model else None,
            latest_run=_run(status.latest_run) if status.latest_run else None,
            recent_runs=[_run(run) for run in status.recent_runs],
            latest_evaluation=_evaluation(status.latest_evaluation),
            versions=CacheVersionsOut(
                recommendations=status.recommendations_version,
                statistics=status.statistics_version,
            ),
            users_with_recommendations=status.users_with_recommendations,
            running=RunningJobsOut(
                recommendations=status.running_recommendations,
                statistics=status.running_statistics,
            ),
        )
    )


def _run(run: object) -> ModelRunOut:
    return ModelRunOut.model_validate(run, from_attributes=True)


def _evaluation(evaluation: RankingEvaluation | None) -> RankingEvaluationOut | None:
    if evaluation is None:
        return None
    return RankingEvaluationOut(
        evaluated_at=evaluation.evaluated_at,
        split=evaluation.split,
        k=evaluation.k,
        n_ratings=evaluation.n_ratings,
        n_users=evaluation.n_users,
        results=list(evaluation.document.get("results", [])),
    )
