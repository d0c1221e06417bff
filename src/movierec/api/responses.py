"""Turning response models into HTTP responses."""

from __future__ import annotations

from flask import Response, current_app
from pydantic import BaseModel


def respond(model: BaseModel, status: int = 200, *, exclude_unset: bool = False) -> Response:
    """The model as a JSON response, serialised by pydantic in the documented field order
    (``exclude_unset``: optional fields never given are left out, not null)."""
    return respond_json(model.model_dump_json(exclude_unset=exclude_unset), status)


def respond_json(body: str, status: int = 200) -> Response:
    """A JSON body already written (by ``respond``'s serialiser) as the response."""
    return current_app.response_class(body, status=status, mimetype="application/json")
