"""Every error leaves the API as JSON: {"error": {"status": <code>, "message": "..."}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(status: int, message: str, **extra: object):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"error": {"status": status, "message": message}}
    body.update(extra)
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        response = error_response(error.code or 500, error.description or error.name)
        if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
            response[0].headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return error_response(500, "internal server error")
