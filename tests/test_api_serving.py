"""The serving path's framework parts: query schemas built once, the orjson JSON
provider writing exactly what Flask's standard provider writes."""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from movierec.api import api_blueprint
from movierec.api.json_provider import OrjsonProvider
from movierec.api.recommendations import recommendations_json
from movierec.api.schemas.common import LimitQuery
from movierec.api.schemas.recommendations import ReasonOut, RecommendationsOut, RecommendedMovieOut


def _providers() -> tuple[OrjsonProvider, DefaultJSONProvider]:
    app = Flask(__name__)
    fast, standard = OrjsonProvider(app), DefaultJSONProvider(app)
    fast.sort_keys = standard.sort_keys = False  # as create_app sets it
    return fast, standard


def _same_bytes(value: object) -> None:
    fast, standard = _providers()
    for options in ({"separators": (",", ":")}, {}, {"indent": 2}):
        assert fast.dumps(value, **options) == standard.dumps(value, **options)


@dataclasses.dataclass
class Point:
    x: float
    label: str


SPECIAL_VALUES = [
    1e-7, 1.5e-05, 0.0001, 1e16, 1e-300, 5e-324, -0.0, 3.5, float("nan"), float("inf"),
    2**63, 2**64, -(2**63), 10**30, "Ünïcode", "\x7f", "\x00\n\t\u2028", "<&>/",
    {1: "int key", None: "none key"}, (1, 2), date(2024, 1, 2),
    datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    decimal.Decimal("1.10"), uuid.UUID(int=5), Point(1e-9, "p"), [None, True, False],
]  # fmt: skip


@pytest.mark.parametrize("value", SPECIAL_VALUES, ids=repr)
def test_provider_writes_what_the_standard_one_writes(value: object) -> None:
    _same_bytes(value)
    _same_bytes({"nested": [value, {"again": value}]})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_provider_matches_the_standard_one_on_any_json_value(value: object) -> None:
    _same_bytes(value)


def test_api_payloads_are_the_same_bytes(client) -> None:  # type: ignore[no-untyped-def]
    """Every JSON the app writes through Flask (the OpenAPI document, errors, health)."""
    app = client.application
    assert isinstance(app.json, OrjsonProvider)
    standard = DefaultJSONProvider(app)
    standard.sort_keys = False
    document = client.get("/api/v1/openapi.json")
    assert (
        document.get_data(as_text=True)
        == standard.dumps(document.get_json(), separators=(",", ":")) + "\n"
    )
    for response in (
        client.get("/api/v1/movie/35"),
        client.get("/api/v1/user/1/recommendations?limit=0"),
        client.put("/api/v1/user/1/rating", json={"movie_id": 1, "rating": "é"}),
        client.get("/api/v1/nothing/\u00e9"),
        client.get("/health/live"),
    ):
        body = response.get_data(as_text=True)
        assert body == standard.dumps(response.get_json(), separators=(",", ":")) + "\n"


def test_query_schemas_are_not_rebuilt_per_request(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client.get("/api/v1/movies/top?limit=5")  # first use of each model may build it
    client.get("/api/v1/user/1/ratings/top?limit=5")
    calls = []
    original = GenerateJsonSchema.generate
    monkeypatch.setattr(
        GenerateJsonSchema,
        "generate",
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k),
    )
    for _ in range(3):
        client.get("/api/v1/movies/top?limit=5")
        assert client.get("/api/v1/user/1/ratings/top?limit=0").status_code == 400
    assert calls == []
    assert LimitQuery.model_json_schema() == BaseModel.model_json_schema.__func__(LimitQuery)


class PlainQuery(BaseModel):
    limit: int | None = None


def test_a_query_model_must_be_a_query_model() -> None:
    blueprint = api_blueprint("probe", __name__, "probe")
    with pytest.raises(TypeError, match="PlainQuery must derive from .*QueryModel"):

        @blueprint.get("/probe")
        def probe(query: PlainQuery):  # type: ignore[no-untyped-def]
            return {}


def _in_order(fields: dict, model: type[BaseModel]) -> dict:  # type: ignore[type-arg]
    """The fields in the model's order, as the service builds them."""
    return {name: fields[name] for name in model.model_fields if name in fields}


_finite = st.floats(allow_nan=False, allow_infinity=False)
_movie = st.fixed_dictionaries(
    {
        "movie_id": st.integers(1, 2**31 - 1),
        "title": st.text(),
        "year": st.none() | st.integers(1870, 2100),
        "genres": st.none() | st.text(),
        "description": st.none() | st.text(),
        "predicted_rating": st.none() | _finite,
        "score": st.none() | _finite,
        "new": st.booleans(),
    },
    optional={
        # The reasons with their kind: the two come together or not at all.
        "because": st.tuples(
            st.lists(
                st.fixed_dictionaries(
                    {"movie_id": st.integers(1, 2**31 - 1), "title": st.text()}
                ).map(lambda reason: _in_order(reason, ReasonOut)),
                min_size=1,
                max_size=2,
            ),
            st.sampled_from(["liked", "just_watched"]),
        ),
        # A movie from the top list: what it was chosen by.
        "avg_rating": st.none() | _finite,
        "votes": st.integers(0, 2**31 - 1),
    },
).map(lambda movie: _in_order(_with_kind(movie), RecommendedMovieOut))


def _with_kind(movie: dict) -> dict:  # type: ignore[type-arg]
    if "because" in movie:
        movie["because"], movie["because_kind"] = movie["because"]
    return movie


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "user_id": st.integers(1, 2**31 - 1),
            "limit": st.integers(1, 1000),
            "offset": st.integers(0, 10_000),
            "recommendations": st.lists(_movie, max_size=5),
            "source": st.sampled_from(["model", "fold_in", "popular", "database"]),
            "backfilled": st.integers(0, 1000),
        }
    ).map(lambda answer: _in_order(answer, RecommendationsOut))
)
def test_recommendations_are_written_as_pydantic_writes_them(answer: dict) -> None:  # type: ignore[type-arg]
    # Any titles, any finite scores and stars, with and without reasons: the bytes orjson
    # writes (or pydantic, where they may differ) are pydantic's of the validated answer.
    expected = RecommendationsOut.model_validate(answer).model_dump_json(exclude_unset=True)
    assert recommendations_json(answer) == expected


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 1e-4, 9.999e-5, -1e-4, 0.123457, 3.457, 999999999999999.9, 1e15, 1e-300]
)
def test_scores_at_the_edges_of_plain_decimals_are_written_as_pydantic_writes_them(
    value: float,
) -> None:
    movie = {"movie_id": 1, "title": "T", "year": None, "genres": None, "description": None}
    answer = {
        "user_id": 1,
        "limit": 1,
        "offset": 0,
        "recommendations": [
            {**movie, "predicted_rating": value, "score": -value, "new": False},
            {
                **movie,
                "predicted_rating": None,
                "score": None,
                "new": False,
                "avg_rating": value,
                "votes": 3,
            },
        ],
        "source": "model",
        "backfilled": 0,
    }
    expected = RecommendationsOut.model_validate(answer).model_dump_json(exclude_unset=True)
    assert recommendations_json(answer) == expected
