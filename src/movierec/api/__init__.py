"""The HTTP layer: one APIBlueprint per resource; routes parse, call a service and serialise.

The app is a flask-openapi3 ``OpenAPI`` (a Flask subclass): routes declare pydantic models for
their path, query and body parameters and their responses; the same models validate requests
and produce the OpenAPI document at ``/api/v1/openapi.json`` (Swagger UI at ``/api/v1/docs``).
See docs/api.md, "How to add an endpoint".
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from flask_openapi3.models import Schema
from flask_openapi3.utils import get_model_schema
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from movierec.api.access import KEY_REQUIRED, SECURITY_SCHEMES, Access, required_access
from movierec.api.errors import errors, validation_error_response
from movierec.api.json_provider import OrjsonProvider
from movierec.api.schemas.common import QueryModel
from movierec.api.schemas.errors import ErrorOut
from movierec.api.schemas.health import NotReadyOut

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024


class AsciiIdConverter(IntegerConverter):
    """``<int:...>`` in routes: ASCII digits without leading zeros, so that one id has one URL.

    werkzeug's own matches ``\\d`` (any Unicode digit: ``/user/١`` was user 1) and leading zeros
    (``/user/01``); those are no route (404) now. At most 100 digits, well inside what ``int``
    parses; a longer number is no route either, and any number past 2^31-1 is a 400 (range).
    """

    regex = r"(?:0|[1-9][0-9]{0,99})"


def reject_escaped_ids() -> None:
    """Before a route with an id runs: its address as sent must have no percent-escape.

    The server decodes the path before routing, so ``/movie/%31`` would be movie 1 under a
    second URL. No route with an id has a character that needs escaping, so an escape in its
    address is never the canonical form: that address is no route (404), as ``/movie/01`` is.
    The address as sent is what the WSGI server passes on (``RAW_URI``: gunicorn, werkzeug;
    ``REQUEST_URI``); a server that passes neither is not checked.
    """
    if not any(isinstance(value, int) for value in (request.view_args or {}).values()):
        return
    sent = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = sent.partition("?")[0]
    if "%" in path:
        raise NotFound(f"no such route: {request.method} {path} (an id is plain digits)")


class MovieRecAPI(OpenAPI):
    """flask-openapi3's app with the project's conventions.

    flask-openapi3 adds a default validation-error response (an array of its own model) to every
    operation that does not declare one. Our operations declare their 400 explicitly; the ones
    that have no parameters cannot answer 400 at all, so the default entry is dropped.
    """

    # Error responses refer to these by name ($ref), from every blueprint (see ``errors()``).
    shared_schemas = (ErrorOut, NotReadyOut)
    # jsonify and the OpenAPI document: orjson, writing what the standard provider writes.
    json_provider_class = OrjsonProvider

    def register_api(self, api: APIBlueprint, **options: Any) -> None:
        """flask-openapi3 replaces a path's operations with each blueprint's: two blueprints
        with operations on one path (GET /movie/<id> in ``movies``, PATCH and DELETE in
        ``catalogue``) would leave only the last blueprint's in the document. Merged here."""
        for path, item in list(api.paths.items()):
            existing = self.paths.get(path)
            if existing is not None:
                operations = {
                    name: getattr(item, name)
                    for name in type(item).model_fields
                    if getattr(item, name) is not None
                }
                api.paths[path] = existing.model_copy(update=operations)
        super().register_api(api, **options)

    def generate_spec_json(self) -> None:
        for model in self.shared_schemas:
            schema = get_model_schema(model, mode="serialization")
            for name, definition in schema.pop("$defs", {}).items():
                self.components_schemas[name] = Schema(**definition)
            self.components_schemas[model.__name__] = Schema(**schema)
        super().generate_spec_json()
        default_name = self.validation_error_model.__name__
        for path_item in self.spec_json["paths"].values():
            for operation in path_item.values():
                responses = operation.get("responses", {})
                entry = responses.get(self.validation_error_status, {})
                schema = entry.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("items", {}).get("$ref", "").endswith("/" + default_name):
                    del responses[self.validation_error_status]
        components = self.spec_json["components"]
        components["schemas"].pop(default_name, None)
        self._declare_access()

    def _declare_access(self) -> None:
        """Each operation's key requirement and its 401/403, from the rule that enforces it."""
        for path, path_item in self.spec_json["paths"].items():
            for method, operation in path_item.items():
                access = required_access(method, path)
                if access is Access.OPEN:
                    continue
                operation["security"] = KEY_REQUIRED
                statuses = errors(401, 403, **ACCESS_DESCRIPTIONS[access])
                for status, entry in statuses.items():
                    operation["responses"].setdefault(str(status), entry)

    def make_default_options_response(self) -> Response:
        # Flask's automatic OPTIONS answer is an empty text/html page: answer JSON, with Allow.
        default = super().make_default_options_response()
        response = jsonify({"allow": sorted(default.allow)})
        response.allow.update(default.allow)
        return response


ACCESS_DESCRIPTIONS = {
    Access.WRITE: {
        "s401": "No API key sent (X-API-Key or Authorization: Bearer), and keys are configured.",
        "s403": "The API key is not one of API_KEYS or ADMIN_API_KEYS.",
    },
    Access.ADMIN: {
        "s401": "No admin API key sent (X-API-Key or Authorization: Bearer), and keys are "
        "configured.",
        "s403": "The API key is not one of ADMIN_API_KEYS.",
    },
}


def _operation_id(name: str, path: str, method: str) -> str:
    # The view function's name: short, stable ids for generated clients ("rate", "get_user").
    return name


class MovieRecBlueprint(APIBlueprint):
    """An APIBlueprint whose query models must be ``QueryModel``s (schema built once, not on
    every request): a route declaring any other fails at import, not slowly in production."""

    @staticmethod
    def create_view_func(func, header, cookie, path, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        if query is not None and not issubclass(query, QueryModel):
            raise TypeError(
                f"{func.__qualname__}: query model {query.__name__} must derive from "
                "movierec.api.schemas.QueryModel"
            )
        return APIBlueprint.create_view_func(func, header, cookie, path, query, *args, **kwargs)


def api_blueprint(
    name: str, import_name: str, description: str, url_prefix: str = API_PREFIX
) -> APIBlueprint:
    """An APIBlueprint with the project's conventions: its routes are tagged ``name`` in the
    document, live under ``url_prefix``, use the view function's name as operation id and
    declare their query parameters with a ``QueryModel``."""
    return MovieRecBlueprint(
        name,
        import_name,
        url_prefix=url_prefix,
        abp_tags=[Tag(name=name, description=description)],
        operation_id_callback=_operation_id,
    )


def create_openapi_app(import_name: str, **flask_options: Any) -> MovieRecAPI:
    app = MovieRecAPI(
        import_name,
        info=Info(
            title="MovieRec",
            version="1",
            description="Movie recommendations over a collaborative filter (SVD): users, movies, "
            "explicit and implicit ratings, recommendations and top movies.",
        ),
        doc_prefix=API_PREFIX,
        doc_url="/openapi.json",
        validation_error_status=400,
        validation_error_callback=validation_error_response,
        security_schemes=SECURITY_SCHEMES,
        **flask_options,
    )
    app.url_map.converters["int"] = AsciiIdConverter  # before any route uses it
    app.before_request(reject_escaped_ids)  # first: a second URL of an id is no route at all
    # Interactive docs at /api/v1/docs: the Swagger UI page of flask-openapi3-swagger (it loads
    # the document from the relative URL "openapi.json", which resolves under /api/v1/ too).
    app.add_url_rule(f"{API_PREFIX}/docs", "docs", app.view_functions["swagger.swagger"])
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    return app


def register_api(app: OpenAPI) -> None:
    from movierec.api.access import init_access
    from movierec.api.admin import admin
    from movierec.api.catalogue import catalogue
    from movierec.api.clicks import clicks
    from movierec.api.dismissed import dismissed
    from movierec.api.errors import register_error_handlers
    from movierec.api.experiments import experiments
    from movierec.api.headers import init_headers
    from movierec.api.health import health
    from movierec.api.movies import movies
    from movierec.api.ratings import ratings
    from movierec.api.recommendations import recommendations
    from movierec.api.users import users

    settings = app.config["MOVIEREC_SETTINGS"]
    init_access(app, settings)  # first: nothing is read or parsed for a request refused anyway
    register_error_handlers(app)
    init_headers(app, settings)
    for blueprint in (
        health,
        users,
        movies,
        catalogue,
        ratings,
        dismissed,
        recommendations,
        clicks,
        admin,
        experiments,
    ):
        app.register_api(blueprint)
