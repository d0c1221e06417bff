"""Online metrics for operators: GET /api/v1/admin/experiment."""

from __future__ import annotations

from movierec.api import api_blueprint
from movierec.api.errors import errors
from movierec.api.responses import respond
from movierec.api.schemas.impressions import ExperimentQuery, ExperimentReportOut
from movierec.extensions import get_db, get_settings
from movierec.services.experiment_report import experiment_report

experiments = api_blueprint(
    "experiments", __name__, "Online metrics of the lists and the A/B experiment between rankers"
)


@experiments.get("/admin/experiment", responses={200: ExperimentReportOut, **errors(400, 503)})
def get_experiment_report(query: ExperimentQuery):  # type: ignore[no-untyped-def]
    """Per experiment arm (per ranker without an experiment) and per day: users shown lists,
    lists and movies shown, the clicks, likes, dislikes and dismissals that followed, their
    rates with 95% intervals (a bootstrap over users), coverage, and each arm against the
    experiment's first arm. What the scheduler has drained (every IMPRESSIONS_DRAIN_SECONDS);
    `movierec experiment report --json` prints the same after draining what waits."""
    report = experiment_report(
        get_db(), query.days, experiment=get_settings().configured_experiment()
    )
    return respond(ExperimentReportOut.model_validate(report.as_dict()))
