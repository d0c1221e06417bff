"""The simulator, small: MovieLens users come back through the real API in an A/B experiment
(puresvd against popular), and the online report, from the impressions the service recorded and
the scheduler's drain, ranks the arms as the offline evaluation of the same split does and
finds every click and rating the simulated users sent (PostgreSQL + Redis and the embedded
stack). benchmarks/simulate.py runs the full one over HTTP against real processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import ML_SMALL, make_test_app, requires_movielens
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.data.load import load_movielens
from movierec.data.movielens import read_ratings
from movierec.db import Database
from movierec.jobs.impressions import drain
from movierec.jobs.refresh import refresh_recommendations, refresh_statistics
from movierec.recommender.data import RatingArrays
from movierec.services.experiment_report import experiment_report
from movierec.simulation import (
    ApiFailed,
    offline_ndcg,
    replay,
    same_order,
    split_for_simulation,
    write_movielens_folder,
)

pytestmark = [requires_movielens(), pytest.mark.slow]

USERS = 300  # ml-latest-small's first 300 users: about half of it
EXPERIMENT = "sim:puresvd=50,popular=50"


class FlaskApi:
    """The simulator's API through Flask's test client (the same app gunicorn serves)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _answer(self, response: Any, what: str) -> dict[str, Any]:
        if response.status_code >= 300:
            raise ApiFailed(f"{what}: {response.status_code} {response.get_data(as_text=True)}")
        return response.get_json()

    def get(self, path: str) -> dict[str, Any]:
        return self._answer(self.client.get("/api/v1" + path), path)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self.client.put("/api/v1" + path, json=body), path)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._answer(self.client.post("/api/v1" + path, json=body), path)


def test_the_report_ranks_the_arms_as_the_offline_evaluation_does(
    db: Database, cache: CacheStore, fast_settings: Settings, tmp_path: Path
) -> None:
    ratings = RatingArrays.from_frame(read_ratings(ML_SMALL))
    ratings = ratings.take(ratings.user_ids <= USERS)
    data = split_for_simulation(ratings)
    load_movielens(db, str(write_movielens_folder(ML_SMALL, data.train, tmp_path / "train")),
                   show_progress=False)  # fmt: skip
    settings = fast_settings.model_copy(update={"experiment": EXPERIMENT})
    refresh_statistics(db, cache, settings)
    refresh_recommendations(db, cache, settings)

    application = next(make_test_app(settings))
    try:
        api = FlaskApi(application.test_client())
        totals = replay(lambda: api, data, sessions=2, limit=10)
        application.extensions["movierec.impressions"].flush()
    finally:
        application.extensions["movierec.impressions"].close()
        application.extensions["movierec.db"].dispose()
    assert totals.sources.get("model", 0) > totals.users // 2  # first visits: published lists
    assert totals.sources.get("fold_in", 0) > 0  # second visits of users who rated: folded in
    drain(db, cache, settings, settle_seconds=0)

    report = experiment_report(db, 1, experiment=settings.configured_experiment())
    arms = {summary.counts.arm: summary for summary in report.arms}
    assert set(arms) == {"puresvd", "popular"}
    # Everything the simulated users did was found and attributed.
    assert sum(int(s.counts.impressions.sum()) for s in arms.values()) == totals.distinct_answers
    assert sum(int(s.counts.liked.sum()) for s in arms.values()) == totals.likes
    assert sum(int(s.counts.disliked.sum()) for s in arms.values()) == totals.dislikes
    assert sum(int(s.counts.clicks.sum()) for s in arms.values()) == totals.clicks
    assert sum(s.counts.users for s in arms.values()) == totals.users
    # The same order as the offline evaluation of the same split: PureSVD ahead of popular.
    online = {name: s.rates["liked_per_slot"].value for name, s in arms.items()}
    offline = offline_ndcg(ratings, ["puresvd"], settings)
    assert offline["puresvd"] > offline["popular"]
    assert same_order(online, offline), (online, offline)
    assert online["puresvd"] > 1.2 * online["popular"]
    print(report.table())
