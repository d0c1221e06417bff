"""The HTTP layer: one APIBlueprint per resource; routes parse, call a service and serialise.

The app is a flask-openapi3 ``OpenAPI`` (a Flask subclass): routes declare pydantic models for
their path, query and body parameters and their responses; the same models validate requests
and produce the OpenAPI document at ``/api/v1/openapi.json`` (Swagger UI at ``/api/v1/docs``).
See docs/api.md, "How to add an endpoint".
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Info, OpenAPI, Tag
from flask_openapi3.models import Schema
from flask_openapi3.utils import get_model_schema

from movierec.api.errors import validation_error_response
from movierec.api.schemas import ErrorOut, NotReadyOut

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 64 * 1024


class MovieRecAPI(OpenAPI):
    """flask-openapi3's app with the project's conventions.

    flask-openapi3 adds a default validation-error response (an array of its own model) to every
    operation that does not declare one. Our operations declare their 400 explicitly; the ones
    that have no parameters cannot answer 400 at all, so the default entry is dropped.
    """

    # Error responses refer to these by name ($ref), from every blueprint (see ``errors()``).
    shared_schemas = (ErrorOut, NotReadyOut)

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
        if components.get("securitySchemes") is None:  # "null" is not a valid OpenAPI value
            components.pop("securitySchemes", None)


def _operation_id(name: str, path: str, method: str) -> str:
    # The view function's name: short, stable ids for generated clients ("rate", "get_user").
    return name


def api_blueprint(
    name: str, import_name: str, description: str, url_prefix: str = API_PREFIX
) -> APIBlueprint:
    """An APIBlueprint with the project's conventions: its routes are tagged ``name`` in the
    document, live under ``url_prefix`` and use the view function's name as operation id."""
    return APIBlueprint(
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
        **flask_options,
    )
    # Interactive docs at /api/v1/docs: the Swagger UI page of flask-openapi3-swagger (it loads
    # the document from the relative URL "openapi.json", which resolves under /api/v1/ too).
    app.add_url_rule(f"{API_PREFIX}/docs", "docs", app.view_functions["swagger.swagger"])
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    return app


def register_api(app: OpenAPI) -> None:
    from movierec.api.admin import admin
    from movierec.api.dismissed import dismissed
    from movierec.api.errors import register_error_handlers
    from movierec.api.health import health
    from movierec.api.movies import movies
    from movierec.api.ratings import ratings
    from movierec.api.recommendations import recommendations
    from movierec.api.users import users

    register_error_handlers(app)
    for blueprint in (health, users, movies, ratings, dismissed, recommendations, admin):
        app.register_api(blueprint)
