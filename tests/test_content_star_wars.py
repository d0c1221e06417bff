"""A new Star Wars film, as a new user of the service would try it: created through the API on
ml-latest-small with the TMDB sample's content, nobody has rated it; its similar movies are the
Star Wars films at once, and after `movierec train` it is in the lists of the users who loved
the earlier films and not in those of users who never rated them."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import ML_SMALL, TMDB_SAMPLE, requires_movielens
from movierec.cli import main
from movierec.config import Settings
from movierec.db import Database

pytestmark = [
    requires_movielens(),
    pytest.mark.skipif(not TMDB_SAMPLE.is_file(), reason=f"{TMDB_SAMPLE} not found"),
]

EPISODES_IV_TO_VI = {260, 1196, 1210}
NEW_FILM = {
    "title": "Star Wars: Episode X - The New Dawn",
    "genres": "Sci-Fi|Adventure|Action",
    "collection": "Star Wars Collection",
    "description": "A new generation of Jedi rises against the First Order's last stand.",
}


def _train(settings: Settings) -> None:
    env = {
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, ["train", "--no-progress"], env=env)
    assert result.exit_code == 0, result.output


def _users() -> tuple[list[int], list[int]]:
    """Users who rated two of Episodes IV-VI 4.5 or more; users with 50+ ratings and none of
    them (read from the files, not through the service)."""
    ratings = pd.read_csv(ML_SMALL / "ratings.csv")
    saga = ratings[ratings["movieId"].isin(EPISODES_IV_TO_VI)]
    loved = saga[saga["rating"] >= 4.5].groupby("userId").size()
    fans = sorted(int(u) for u in loved[loved >= 2].index)
    counts = ratings.groupby("userId").size()
    others = sorted(set(counts[counts >= 50].index) - set(saga["userId"]))
    return fans, [int(u) for u in others]


def test_a_new_star_wars_film_finds_its_fans_before_anyone_rated_it(  # type: ignore[no-untyped-def]
    ml_small_app, settings: Settings, session_db: Database
) -> None:
    client = ml_small_app.test_client()
    _train(settings)  # a model is published, as in a running service

    created = client.put("/api/v1/movie", json=NEW_FILM)
    assert created.status_code == 201, created.get_json()
    film = created.get_json()["movie_id"]
    assert created.get_json()["new"] is True

    # At once, before any refresh: its similar movies from its content.
    similar = client.get(f"/api/v1/movie/{film}/similar?limit=5").get_json()["similar"]
    assert {m["movie_id"] for m in similar[:3]} == EPISODES_IV_TO_VI, similar

    _train(settings)  # `movierec train`: the film reaches the lists, placed by its content
    similar = client.get(f"/api/v1/movie/{film}/similar?limit=5").get_json()["similar"]
    assert {m["movie_id"] for m in similar[:3]} == EPISODES_IV_TO_VI, similar

    fans, others = _users()
    assert len(fans) >= 50 and len(others) >= 50

    def share_with_the_film(users: list[int]) -> float:
        found = 0
        for user in users:
            response = client.get(f"/api/v1/user/{user}/recommendations?limit=20")
            assert response.status_code == 200
            items = response.get_json()["recommendations"]
            found += any(m["movie_id"] == film and m["new"] for m in items)
        return found / len(users)

    fans_share, others_share = share_with_the_film(fans), share_with_the_film(others)
    print(
        f"the new film is in the top 20 of {fans_share:.0%} of {len(fans)} fans and "
        f"{others_share:.1%} of {len(others)} users with 50+ ratings and no Episode IV-VI"
    )
    assert fans_share >= 0.30
    assert others_share <= 0.05
