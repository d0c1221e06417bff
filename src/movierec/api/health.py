"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from flask import jsonify
from sqlalchemy import text

from movierec.api import api_blueprint
from movierec.api.errors import error_response, errors
from movierec.api.schemas import LiveOut, ReadyOut
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
            "description": "The database or Redis does not answer; ``checks`` says which.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/NotReadyOut"}}
            },
        },
        **errors(),
    },
)
def ready():  # type: ignore[no-untyped-def]
    """Ready to serve: both the database and Redis answer."""
    checks: dict[str, str] = {}
    try:
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready"; say which part and why
        log.warning("readiness: database down: %s", error)
        checks["database"] = f"down: {type(error).__name__}"
    try:
        get_cache().ping()
        checks["redis"] = "ok"
    except Exception as error:
        log.warning("readiness: redis down: %s", error)
        checks["redis"] = f"down: {type(error).__name__}"
    down = [part for part, state in checks.items() if state != "ok"]
    if down:
        return error_response(503, f"not ready: {', '.join(down)} down", checks=checks)
    return jsonify({"status": "ready", "checks": checks})
