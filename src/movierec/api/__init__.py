"""The HTTP layer: one blueprint per resource; routes parse, call a service and serialise."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from movierec.api.errors import register_error_handlers
    from movierec.api.health import health

    register_error_handlers(app)
    app.register_blueprint(health)
