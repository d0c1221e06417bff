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
    assert response.status_code == 200
    assert response.get_json() == {"deleted": True, "msg": "deleted", "user_id": 61}
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


def _escaped_forms(canonical: int) -> list[str]:
    digits = str(canonical)
    return [
        f"%3{digits[0]}{digits[1:]}",  # a digit escaped: the same id after decoding
        f"{digits[:-1]}%3{digits[-1]}",
        "".join(f"%3{d}" for d in digits),
        f"%2B{digits}",  # "+1": never an id, escaped or not
        f"%30{digits}",  # a leading zero, escaped
    ]


def test_a_percent_escaped_id_is_no_route_on_every_id_route(loaded_client) -> None:  # type: ignore[no-untyped-def]
    # The server decodes "%31" to "1" before routing: without the check /movie/%31 was movie 1.
    routes = [
        ("GET", "/api/v1/movie/{}", 10), ("GET", "/api/v1/movie/{}/similar", 10),
        ("GET", "/api/v1/movie/{}/statistics", 10), ("GET", "/api/v1/user/{}", 1),
        ("GET", "/api/v1/user/{}/ratings/top", 1), ("GET", "/api/v1/user/{}/recommendations", 1),
        ("GET", "/api/v1/user/{}/dismissed", 1), ("DELETE", "/api/v1/user/{}", 1),
        ("PUT", "/api/v1/user/{}/rating", 1), ("GET", "/movies/{}", 10), ("GET", "/users/{}", 1),
    ]  # fmt: skip
    for method, route, canonical in routes:
        if method == "GET":
            assert loaded_client.get(route.format(canonical)).status_code == 200, route
        for escaped in _escaped_forms(canonical):
            response = loaded_client.open(route.format(escaped), method=method, json={})
            assert response.status_code == 404, (method, route, escaped, response.get_json())
            message = response.get_json()["error"]["message"]
            assert message.startswith("no such route: "), (route, escaped, message)
    # An escape elsewhere in the address of an id route is a second URL of that movie too.
    assert loaded_client.get("/api/v1/%6Dovie/10").status_code == 404
    assert loaded_client.get("/api/v1/user/1").status_code == 200  # nothing was deleted
