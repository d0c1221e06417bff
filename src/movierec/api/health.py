"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import jsonify
from sqlalchemy import text

from movierec.api import api_blueprint
from movierec.api.errors import error_response, errors
from movierec.api.schemas.health import LiveOut, ReadyOut
from movierec.extensions import get_cache, get_db

log = logging.getLogger(__name__)

health = api_blueprint("health", __name__, "Liveness and readiness probes", url_prefix="/health")


@health.get("/live", responses={200: LiveOut, **errors()})
def live():  # type: ignore[no-untyped-def]
    """The process answers HTTP (it does not touch the database or Redis)."""
    return jsonify({"status": "ok"})


@health.get(
    "/ready",
    responses={
        200: ReadyOut,
        503: {
            "description": "The database or Redis does not answer, or Redis holds no movie "
            "statistics (a fresh deployment before the first refresh, a Redis restarted "
            "empty); ``checks`` says which.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/NotReadyOut"}}
            },
        },
        **errors(),
    },
)
def ready():  # type: ignore[no-untyped-def]
    """Ready to serve: the database and Redis answer, and Redis holds published movie statistics.

    Without statistics the API still answers (top movies and cold start come from the
    database), but a fresh deployment is not ready until the first statistics refresh, and a
    Redis restarted empty is not ready until the scheduler's watchdog republished (seconds)."""
    checks: dict[str, str] = {}
    try:
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready"; say which part and why
        log.warning("readiness: database down: %s", error)
        checks["database"] = f"down: {type(error).__name__}"
    try:
        published = get_cache().published_version("stats")
        checks["redis"] = "ok"
        checks["statistics"] = "ok" if published else "missing: none published in Redis"
    except Exception as error:
        log.warning("readiness: redis down: %s", error)
        checks["redis"] = f"down: {type(error).__name__}"
        checks["statistics"] = "unknown: redis down"
    problems = [f"{part} down" for part in ("database", "redis") if checks[part] != "ok"]
    if checks["statistics"].startswith("missing"):
        problems.append("no statistics published")
    if problems:
        return error_response(503, f"not ready: {', '.join(problems)}", checks=checks)
    return jsonify({"status": "ready", "checks": checks})
