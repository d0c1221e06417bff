"""Every error leaves the API as JSON: {"error": {"status": <code>, "message": "..."}}.

Where each status comes from:

- 400: request validation (pydantic, via flask-openapi3's ``validation_error_callback``),
  malformed or too deeply nested JSON or a body that is not a JSON object (``check_json_body``),
  ``InvalidInput``.
- 401 / 403: no API key, or one not accepted there (``movierec.api.access``).
- 404 / 409: the services' ``NotFound`` / ``Conflict``; 404 / 405 / 413 for routing and size.
- 414 / 431 (and 400 for a request line gunicorn cannot parse): gunicorn rejects the request
  before the app sees it; ``movierec.gunicorn_answers`` answers those in the same JSON shape.
- 415: a request body whose Content-Type is not JSON.
- 503: the database or Redis cannot be reached (connection refused, timeout, locked), or a
  statement or the wait for a pooled connection exceeded the web tier's timeout; with
  ``Retry-After``.
- 500: anything else; logged with its traceback, answered without internals.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, get_type_hints

import redis
from flask import Flask, Response, current_app, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)

from movierec import metrics
from movierec.api.schemas.errors import ErrorOut
from movierec.services.errors import Conflict, InvalidInput, ServiceError
from movierec.services.errors import NotFound as ResourceNotFound

log = logging.getLogger(__name__)

SERVICE_STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    ResourceNotFound: 404,
    Conflict: 409,
}

# What each error status means, for the OpenAPI document (``errors(...)`` below).
ERROR_DESCRIPTIONS = {
    400: "Invalid request: a parameter or body field is missing, of the wrong type or out of "
    "range, or the body is not a well-formed JSON object. The message names the field.",
    401: "No API key sent, and keys are configured.",
    403: "The API key is not accepted for this operation.",
    404: "Not found: unknown user, movie or rating (the message says which).",
    409: "Conflict with the current state (the message says what to do instead).",
    413: "The request body is too large (64 KiB at most, with or without Content-Length).",
    414: "The request line (method, path and query) is longer than the server accepts "
    "(gunicorn's limit_request_line, 4094 bytes by default).",
    415: "The request body is not JSON (send Content-Type: application/json).",
    431: "A request header, or all of them, is larger than the server accepts "
    "(gunicorn's limit_request_field_size and limit_request_fields).",
    500: "Unexpected internal error (logged on the server).",
    503: "The database or Redis is unavailable; retry later.",
}


def error_response(status: int, message: str, **extra: object) -> tuple[Response, int]:
    body: dict[str, object] = {"error": {"status": status, "message": message}}
    body.update(extra)
    return jsonify(body), status


def errors(*statuses: int, **descriptions: str) -> dict[int, Any]:
    """OpenAPI response entries for error statuses, all with the ``ErrorOut`` schema.

    414, 431 (the server's limits on the request line and headers) and 500 are always added.
    ``descriptions`` overrides a status' text: ``errors(404, s404="...")``.
    Use it in a route's ``responses``: ``responses={200: UserOut, **errors(400, 404, 503)}``.
    """
    entries: dict[int, Any] = {}
    for status in sorted({*statuses, 414, 431, 500}):
        text = descriptions.get(f"s{status}", ERROR_DESCRIPTIONS[status])
        entries[status] = {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
    return entries


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each offending field: "rating: Input should be ... ; movie_id: ..."."""
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "request body"
        parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def validation_error_response(error: ValidationError) -> Response:
    """flask-openapi3's ``validation_error_callback``: its 422 becomes our 400."""
    response, status = error_response(400, describe_validation_error(error))
    response.status_code = status
    return response


@cache
def _expects_body(view: Any) -> bool:
    try:
        return "body" in get_type_hints(view)
    except Exception:  # a view whose annotations cannot be resolved declares no body model
        return False


def check_json_body() -> tuple[Response, int] | None:
    """Before a view with a ``body`` model runs: the body must be a JSON object.

    flask-openapi3 reads bodies with ``get_json(silent=True)``, which turns a wrong Content-Type
    or broken JSON into "no body"; this says what is actually wrong, with the right status.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or not _expects_body(view) or request.method == "OPTIONS":
        return None
    if not _read_body():
        return error_response(400, "request body: a JSON object is required")
    if not request.is_json:
        return error_response(
            415,
            "request body: Content-Type must be application/json, not "
            f"{request.mimetype or 'missing'}",
        )
    try:
        payload = request.get_json()
    except BadRequest:
        return error_response(400, "request body: malformed JSON")
    except RecursionError:  # the json module's own limit, far deeper than any real body
        return error_response(400, "request body: JSON nested too deeply")
    if not isinstance(payload, dict):
        return error_response(400, "request body: must be a JSON object")
    return None


# A client told "unavailable" should wait about this long before retrying.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (query_canceled).
QUERY_CANCELED = "57014"


def _timed_out(error: Exception) -> bool:
    """A statement ran into the web tier's statement timeout (a lock held too long, say), no
    pooled connection came free in time, or SQLite stayed locked past its busy timeout."""
    if isinstance(error, PoolTimeoutError):
        return True
    cause = getattr(error, "orig", None)
    if getattr(cause, "sqlstate", None) == QUERY_CANCELED:
        return True
    return isinstance(error, OperationalError) and "database is locked" in str(cause)


def _read_body() -> bytes:
    """The body, cached for the view; a body over the limit is a 413 however it was sent.

    With Content-Length, werkzeug refuses a body over ``MAX_CONTENT_LENGTH`` itself. Without it
    (``Transfer-Encoding: chunked``) it stops reading at the limit and returns what it read, as
    if that were the whole body: one byte more on the wire means the body was too large.
    """
    data = request.get_data(cache=True)
    limit = request.max_content_length
    unknown_length = request.content_length is None and limit is not None
    if unknown_length and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


def _is_unavailable(error: Exception) -> bool:
    """The database or Redis cannot answer (as opposed to a bug in a query)."""
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError, PoolTimeoutError)):
        return True
    if isinstance(error, OperationalError):
        return True  # refused/lost connections, SQLite "database is locked", server shutdown
    return isinstance(error, DBAPIError) and error.connection_invalidated


def register_error_handlers(app: Flask) -> None:
    app.before_request(check_json_body)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        if error.code is None:  # abort(response): the response is already complete
            return error.get_response()
        message = error.description or error.name
        if isinstance(error, NotFound) and request.url_rule is None:
            message = f"no such route: {request.method} {request.path}"
        if isinstance(error, RequestEntityTooLarge):
            limit = request.max_content_length
            message = f"request body: larger than {limit:,} bytes" if limit else message
        response = error_response(error.code, message)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            allowed = ", ".join(error.valid_methods)
            response = error_response(
                405, f"method {request.method} not allowed on {request.path}; allowed: {allowed}"
            )
            response[0].headers["Allow"] = allowed
        return response

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError):  # type: ignore[no-untyped-def]
        status = next(
            (code for kind, code in SERVICE_STATUS.items() if isinstance(error, kind)), 400
        )
        return error_response(status, error.message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):  # type: ignore[no-untyped-def]
        if _is_unavailable(error):
            log.warning("backing service unavailable: %s: %s", type(error).__name__, error)
            is_redis = isinstance(error, redis.RedisError)
            metrics.count_backend_error("redis" if is_redis else "database")
            if _timed_out(error):
                message = "service unavailable: the database did not answer in time"
            else:
                part = "Redis" if is_redis else "the database"
                message = f"service unavailable: {part} cannot be reached"
            response = error_response(503, message)
            response[0].headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error")


__all__ = ["ErrorOut", "error_response", "errors", "register_error_handlers"]
