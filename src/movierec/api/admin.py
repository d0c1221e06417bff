"""Engine status for operators: GET /api/v1/admin/status."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.engine_schemas import (
    CacheVersionsOut,
    EngineStatusOut,
    ModelRunOut,
    RunningJobsOut,
)
from movierec.api.errors import errors
from movierec.api.responses import respond
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
            current_model=_run(status.current_model),
            latest_run=_run(status.latest_run),
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


def _run(run: object | None) -> ModelRunOut | None:
    return None if run is None else ModelRunOut.model_validate(run, from_attributes=True)
