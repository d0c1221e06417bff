"""The OpenAPI document covers every route, from the same models the code validates with."""

from __future__ import annotations

import re

import pytest
from flask_openapi3.utils import get_model_schema

from movierec.api import schemas
from movierec.app import create_app
from movierec.config import load_settings

SKIP_ENDPOINTS = {"static", "docs"}


@pytest.fixture(scope="module")
def document_app():  # type: ignore[no-untyped-def]
    # Building the app and its document touches neither the database nor Redis.
    return create_app(load_settings(DATABASE_URL="sqlite://", REDIS_URL="redis://127.0.0.1:9"))


@pytest.fixture(scope="module")
def document(document_app) -> dict:  # type: ignore[no-untyped-def]
    response = document_app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _operations(document: dict):  # type: ignore[no-untyped-def]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_route_is_documented(document_app, document: dict) -> None:  # type: ignore[no-untyped-def]
    routes = set()
    for rule in document_app.url_map.iter_rules():
        # The document's own endpoints, and the web page's HTML (not part of the API).
        if rule.endpoint in SKIP_ENDPOINTS or rule.endpoint.split(".")[0] in {
            "openapi",
            "swagger",
            "web",
        }:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, method, _ in _operations(document)}
    assert routes == documented
    assert {
        ("/api/v1/user/{user_id}", "get"),
        ("/api/v1/user", "put"),
        ("/api/v1/user/{user_id}", "delete"),
        ("/api/v1/user/{user_id}/ratings/top", "get"),
        ("/api/v1/user/{user_id}/ratings/latest", "get"),
        ("/api/v1/movie/{movie_id}", "get"),
        ("/api/v1/user/{user_id}/rating", "put"),
        ("/api/v1/user/{user_id}/rating", "delete"),
        ("/api/v1/user/{user_id}/watched", "put"),
        ("/api/v1/user/{user_id}/watched", "delete"),
        ("/api/v1/user/{user_id}/clicked", "post"),
        ("/api/v1/admin/experiment", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    } <= documented


# Operations that answer without their back ends by design: a click is recorded even while the
# database and Redis are down (the web process keeps it), so it never answers 503.
NEVER_UNAVAILABLE = {"POST /api/v1/user/{user_id}/clicked"}


def test_every_operation_documents_its_errors(document: dict) -> None:
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        assert "500" in responses, label
        has_input = bool(operation.get("parameters")) or "requestBody" in operation
        assert ("400" in responses) == has_input, label
        assert ("415" in responses) == ("requestBody" in operation), label
        if path.startswith("/api/v1/"):
            assert ("503" in responses) == (label not in NEVER_UNAVAILABLE), label
        for status, response in responses.items():
            if status.startswith(("4", "5")) and not (path == "/health/ready" and status == "503"):
                assert response["content"]["application/json"]["schema"] == error_ref, label
            assert response["description"], label
    assert "ValidationErrorModel" not in document["components"]["schemas"]


def test_document_schemas_are_the_validation_models(document: dict) -> None:
    components = document["components"]["schemas"]
    for model in (schemas.RatingBody, schemas.MovieRefBody, schemas.NewUserBody):
        assert components[model.__name__] == get_model_schema(model)
    for model in (schemas.MovieOut, schemas.RatingOut, schemas.WatchedOut, schemas.UserOut):
        assert components[model.__name__] == get_model_schema(model, mode="serialization")
    limit = next(
        p
        for p in document["paths"]["/api/v1/user/{user_id}/ratings/top"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    assert limit["in"] == "query" and not limit["required"]
    assert limit["schema"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 1000}
    rating = components["RatingBody"]["properties"]["rating"]
    assert (rating["type"], rating["minimum"], rating["maximum"]) == ("number", 0, 5)
    assert components["RatingOut"]["properties"]["ts"]["format"] == "date-time"


def test_interactive_docs(document_app) -> None:  # type: ignore[no-untyped-def]
    response = document_app.test_client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page.lower()
    assert "openapi.json" in page
    # The page's assets are served by the app itself (relative URLs, no CDN).
    assets = re.findall(r'(?:src|href)="(swagger/[^"]+)"', page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = document_app.test_client().get(f"/api/v1/{asset}")
        assert response.status_code == 200, asset
        response.close()
