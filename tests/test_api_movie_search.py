"""GET /api/v1/movies/search and GET /api/v1/movie/<id>/statistics (the web page's search and
movie page use them)."""

from __future__ import annotations

from sqlalchemy import text

from movierec.cache import CacheStore
from movierec.cache.statistics import MovieStat
from movierec.db import Database


def titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_json()
    return [movie["title"] for movie in response.get_json()["movies"]]


def add_movie(db: Database, movie_id: int, title: str, year: int | None = None) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO movies (movie_id, title, year, genres) "
                "VALUES (:id, :title, :year, 'Drama')"
            ),
            {"id": movie_id, "title": title, "year": year},
        )


def test_every_word_in_any_order_and_case(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    # The loader turns "Movie 10, The (1950)" into "The Movie 10" (conftest.make_movielens).
    found = titles(client.get("/api/v1/movies/search?q=10%20MOVIE%20the&limit=100"))
    assert "The Movie 10" in found
    assert found and all("10" in t and "movie" in t.lower() and "the" in t.lower() for t in found)
    with loaded_db.engine.connect() as connection:
        expected = connection.execute(
            text(
                "SELECT count(*) FROM movies WHERE lower(title) LIKE '%the%' "
                "AND lower(title) LIKE '%movie%' AND title LIKE '%10%'"
            )  # fmt: skip
        ).scalar_one()
    assert len(found) == expected
    body = client.get("/api/v1/movies/search?q=movie&limit=3").get_json()
    assert body["q"] == "movie" and body["limit"] == 3 and len(body["movies"]) == 3
    assert set(body["movies"][0]) == {"movie_id", "title", "year", "genres", "description", "votes"}


def test_titles_starting_with_the_first_word_come_first_then_the_most_voted(
    client,
    loaded_db: Database,
    cache: CacheStore,  # type: ignore[no-untyped-def]
) -> None:
    add_movie(loaded_db, 5001, "Zebra Crossing")
    add_movie(loaded_db, 5002, "A Crossing of Zebras")
    add_movie(loaded_db, 5003, "Big Zebra Night")
    assert titles(client.get("/api/v1/movies/search?q=zebra")) == [
        "Zebra Crossing", "A Crossing of Zebras", "Big Zebra Night",  # no votes: by title
    ]  # fmt: skip
    cache.publish_statistics([MovieStat(5003, 9, 4.0), MovieStat(5002, 2, None)])
    body = client.get("/api/v1/movies/search?q=zebra").get_json()
    assert [(m["title"], m["votes"]) for m in body["movies"]] == [
        ("Zebra Crossing", None), ("Big Zebra Night", 9), ("A Crossing of Zebras", 2),
    ]  # fmt: skip


def test_the_title_that_is_the_query_comes_first_then_titles_starting_with_it_by_votes(
    client,
    loaded_db: Database,
    cache: CacheStore,  # type: ignore[no-untyped-def]
) -> None:
    movies = {
        6001: ("The Terminator", 1984, 131), 6002: ("Terminator Genisys", 2015, 9),
        6003: ("Terminator 2: Judgment Day", 1991, 224), 6004: ("Terminator Salvation", 2009, 44),
        6005: ("Lady Terminator", 1989, 300), 6006: ("The Terminators", 2009, 2),
        6007: ("Terminator, The", 1990, 1),  # a title as MovieLens writes it, another year
    }  # fmt: skip
    for movie_id, (title, year, _) in movies.items():
        add_movie(loaded_db, movie_id, title, year)
    cache.publish_statistics(MovieStat(m, votes, 4.0) for m, (_, _, votes) in movies.items())
    expected = [
        "The Terminator", "Terminator, The",  # the query itself, by votes
        "Terminator 2: Judgment Day", "Terminator Salvation", "Terminator Genisys",  # by votes
        "Lady Terminator", "The Terminators",  # the rest, by votes
    ]  # fmt: skip
    for q in ["terminator", "TERMINATOR"]:
        assert titles(client.get(f"/api/v1/movies/search?q={q}")) == expected, q
    # With an article the title must still hold every word ("the" is one), but the article
    # does not decide which title is the query.
    for q in ["the terminator", "terminator, the", "Terminator the"]:
        found = titles(client.get(f"/api/v1/movies/search?q={q}"))
        assert found == [t for t in expected if "the" in t.lower()], q
    # The year is not part of what the title is: "terminator 1984" is The Terminator of 1984,
    # and the year alone finds the movies of that year.
    assert titles(client.get("/api/v1/movies/search?q=terminator%201984")) == ["The Terminator"]
    assert titles(client.get("/api/v1/movies/search?q=Terminator,%20The%20(1990)")) == [
        "Terminator, The"
    ]
    assert "The Terminator" in titles(client.get("/api/v1/movies/search?q=1984&limit=100"))


def test_like_wildcards_are_plain_characters(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    add_movie(loaded_db, 5004, "100% Pure_Fun")
    # "P_re" and "1%P" would match "Pure" and "100% P" if they were LIKE's wildcards.
    for q, expected in [("%", True), ("_", True), ("100%", True), ("e_f", True),
                        ("P_re", False), ("1%P", False)]:  # fmt: skip
        found = titles(client.get(f"/api/v1/movies/search?q={q.replace('%', '%25')}"))
        assert found == (["100% Pure_Fun"] if expected else []), q


def test_bad_searches_are_400(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    for query, needle in [("", "q"), ("?q=", "q"), ("?q=%20,%20", "at least one word"),
                          ("?q=%00", "at least one word"), ("?q=%18", "at least one word"),
                          ("?q=a&limit=0", "limit"), (f"?q={'x' * 201}", "q")]:  # fmt: skip
        response = client.get(f"/api/v1/movies/search{query}")
        assert response.status_code == 400, query
        assert needle in response.get_json()["error"]["message"], query


def test_statistics_as_published_else_counted_now(
    client,
    loaded_db: Database,
    cache: CacheStore,  # type: ignore[no-untyped-def]
) -> None:
    with loaded_db.engine.connect() as connection:
        votes, average = connection.execute(
            text("SELECT count(*), avg(rating) FROM ratings WHERE movie_id = 20")
        ).one()
    body = client.get("/api/v1/movie/20/statistics").get_json()
    assert body["source"] == "database" and body["votes"] == votes
    assert body["avg_rating"] == (None if votes < 5 else float(average))
    cache.publish_statistics([MovieStat(20, 3, None), MovieStat(30, 42, 4.25)])
    assert client.get("/api/v1/movie/20/statistics").get_json() == {
        "movie_id": 20, "votes": 3, "avg_rating": None, "source": "cache",
    }  # fmt: skip
    assert client.get("/api/v1/movie/30/statistics").get_json()["avg_rating"] == 4.25
    # A movie the published set does not know yet (new since the refresh): counted now.
    assert client.get("/api/v1/movie/40/statistics").get_json()["source"] == "database"
    missing = client.get("/api/v1/movie/35/statistics")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["message"] == "movie 35 not found"


def test_the_document_states_which_queries_have_a_word(client, loaded_db: Database) -> None:  # type: ignore[no-untyped-def]
    import re
    from urllib.parse import quote

    document = client.get("/api/v1/openapi.json").get_json()
    parameters = document["paths"]["/api/v1/movies/search"]["get"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "q")["schema"]["pattern"]
    # The document's pattern and the API agree: valid by the pattern is never a 400, and what
    # the pattern refuses is one.
    for q in ["toy", " x ", "\x18", "\x18a", " , ", "é", "\u00a0", "()[]", "'\"", "\t1"]:
        status = client.get(f"/api/v1/movies/search?q={quote(q)}").status_code
        assert status == (200 if re.search(pattern, q) else 400), repr(q)
