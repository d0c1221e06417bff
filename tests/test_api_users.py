"""GET/PUT/DELETE /api/v1/user: through the Flask app, against the real back ends."""

from __future__ import annotations

import pytest

from movierec.cache import CacheStore
from movierec.db import Database


@pytest.fixture
def loaded_client(client, loaded_db: Database):  # type: ignore[no-untyped-def]
    return client


def test_create_get_delete_user(loaded_client) -> None:  # type: ignore[no-untyped-def]
    # The original description's own example: year_of_birth as a numeric string.
    response = loaded_client.put("/api/v1/user", json={"gender": "M", "year_of_birth": "1982"})
    assert response.status_code == 201
    assert response.get_json() == {"gender": "M", "user_id": 61, "year_of_birth": 1982}
    assert loaded_client.get("/api/v1/user/61").get_json() == response.get_json()

    response = loaded_client.delete("/api/v1/user/61")
    assert (response.status_code, response.get_json()) == (200, {"msg": "deleted", "user_id": 61})
    response = loaded_client.get("/api/v1/user/61")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"status": 404, "message": "user 61 not found"}}
    assert loaded_client.delete("/api/v1/user/61").status_code == 404


def test_create_user_without_details(loaded_client) -> None:  # type: ignore[no-untyped-def]
    response = loaded_client.put("/api/v1/user", json={})
    assert response.status_code == 201
    assert response.get_json() == {"gender": None, "user_id": 61, "year_of_birth": None}


def test_delete_user_drops_ratings_and_cached_recommendations(
    loaded_client, cache: CacheStore
) -> None:  # type: ignore[no-untyped-def]
    cache.publish_recommendations([(7, [10, 20, 30])])
    assert loaded_client.get("/api/v1/user/7/ratings/top").get_json()["ratings"]
    assert loaded_client.delete("/api/v1/user/7").status_code == 200
    assert cache.recommendations_for(7) is None
    assert loaded_client.get("/api/v1/user/7/ratings/top").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"gender": "M", "year_of_birth": "nineteen"}, "year_of_birth"),
        ({"gender": "M", "year_of_birth": 1982.5}, "year_of_birth"),
        ({"gender": "M", "year_of_birth": True}, "year_of_birth"),
        ({"gender": "M", "year_of_birth": 1200}, "year_of_birth"),
        ({"gender": 1, "year_of_birth": 1982}, "gender"),
        ({"gender": "", "year_of_birth": 1982}, "gender"),
        ({"gender": "M\u0000", "year_of_birth": 1982}, "gender"),
        ({"gender": "x" * 17}, "gender"),
        ({"gender": "M", "age": 40}, "age"),
    ],
)
def test_create_user_rejects_bad_fields(client, body: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    response = client.put("/api/v1/user", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["status"] == 400
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.parametrize("path", ["/api/v1/user/0", "/api/v1/user/2147483648"])
def test_out_of_range_user_ids_are_a_400(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("user_id: ")


def test_non_numeric_user_id_is_an_unknown_route(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/user/abc")
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "no such route: GET /api/v1/user/abc"


@pytest.mark.parametrize(
    "user_id",
    ["01", "001", "00", "\u0661", "\u0967", "\uff11", "1\u0660", "+1", " 1", "1 ", "9" * 101],
)
def test_ids_are_ascii_digits_without_leading_zeros(loaded_client, user_id: str) -> None:  # type: ignore[no-untyped-def]
    # "01" and the Arabic-Indic "١" used to be user 1: one user, one URL.
    assert loaded_client.get("/api/v1/user/1").status_code == 200
    for path in (f"/api/v1/user/{user_id}", f"/api/v1/user/{user_id}/ratings/top"):
        response = loaded_client.get(path)
        assert response.status_code == 404, (path, response.get_json())
        assert response.get_json()["error"]["message"].startswith("no such route: GET ")
    response = loaded_client.delete(f"/api/v1/user/{user_id}")
    assert response.status_code == 404
    assert loaded_client.get("/api/v1/user/1").status_code == 200  # still there
