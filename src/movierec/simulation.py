"""A simulator of people coming back: replays a later slice of MovieLens through the real API, so
that the online metrics and an A/B experiment can be checked without real people.

- The data is split as the offline evaluation splits it (``recommender.evaluation``: each
  user's latest ratings held out, ``temporal_split``); the earlier part is what the service
  knows (loaded into its database), the held-out part is what each user will do.
- In each session every simulated user asks for recommendations (``GET .../recommendations``,
  ``limit`` movies) and, for each movie shown that they rated in the held-out slice, does what
  they did: rates it with those stars (a rating >= 4 is a like, below is a dislike) and, for a
  like, clicks it first (``POST .../clicked`` with the answer's impression id). The next session
  gets the list folded in from those ratings, as a returning user would.
- The service records the answers and outcomes (``services.impressions``), the scheduler drains
  them, and the report (``services.experiment_report``) ranks the arms; the offline evaluation
  of the same split ranks the same rankers (``offline_ndcg``). They should agree.

The API is reached through anything with ``get``/``put``/``post`` (``HttpApi`` for a running
server, a Flask test client in the tests).
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from movierec.recommender.data import RatingArrays
from movierec.recommender.evaluation import temporal_split

LIKED = 4.0


class Api(Protocol):
    """The JSON API, by path under /api/v1: each call returns the decoded answer, or raises."""

    def get(self, path: str) -> dict[str, Any]: ...

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...


class ApiFailed(RuntimeError):
    """A request the simulation needs was not answered with success."""


@dataclass(frozen=True)
class SimulationData:
    train: RatingArrays  # what the service knows: loaded into its database
    held_out: dict[int, dict[int, float]]  # user -> movie -> the stars they gave it later

    @property
    def users(self) -> list[int]:
        return sorted(self.held_out)


def split_for_simulation(ratings: RatingArrays, test_fraction: float = 0.2) -> SimulationData:
    """The offline evaluation's temporal split: the earlier ratings to load, the later ones to
    replay."""
    split = temporal_split(ratings, test_fraction)
    held_out: dict[int, dict[int, float]] = {}
    for user, movie, stars in zip(
        split.test.user_ids.tolist(),
        split.test.movie_ids.tolist(),
        split.test.ratings.tolist(),
        strict=True,
    ):
        held_out.setdefault(user, {})[movie] = stars
    return SimulationData(split.train, held_out)


def write_movielens_folder(source: Path, train: RatingArrays, folder: Path) -> Path:
    """A MovieLens folder holding ``source``'s movies (movies, links, tags) and only the
    ``train`` ratings: what ``movierec data load`` loads for the simulation."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("movies.csv", "links.csv", "tags.csv"):
        if (source / name).is_file():
            shutil.copyfile(source / name, folder / name)
    frame = pd.DataFrame(
        {
            "userId": train.user_ids,
            "movieId": train.movie_ids,
            "rating": train.ratings,
            "timestamp": train.timestamps,
        }
    )
    frame.to_csv(folder / "ratings.csv", index=False)
    return folder


@dataclass
class ReplayTotals:
    """What the simulated users did, counted on their side (the report must find the same)."""

    users: int = 0
    sessions: int = 0
    answers: int = 0  # recommendations answers received
    distinct_answers: int = 0  # distinct impression ids among them
    slots: int = 0  # movies shown
    likes: int = 0  # ratings >= 4 of a movie shown
    dislikes: int = 0  # ratings < 4 of a movie shown
    clicks: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    _impressions: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, answer: dict[str, Any], likes: int, dislikes: int, clicks: int) -> None:
        with self._lock:
            self.answers += 1
            self.slots += len(answer["recommendations"])
            self.likes += likes
            self.dislikes += dislikes
            self.clicks += clicks
            self.sources[answer["source"]] = self.sources.get(answer["source"], 0) + 1
            if answer.get("impression_id"):
                self._impressions.add(answer["impression_id"])
            self.distinct_answers = len(self._impressions)


def visit(
    api: Api, user: int, held_out: Mapping[int, float], limit: int
) -> tuple[dict, int, int, int]:
    """One session of one user: ask, then act on every movie shown they rated later. Returns
    the answer and the likes, dislikes and clicks sent."""
    answer = api.get(f"/user/{user}/recommendations?limit={limit}")
    likes = dislikes = clicks = 0
    for movie in answer["recommendations"]:
        stars = held_out.get(movie["movie_id"])
        if stars is None:
            continue
        if stars >= LIKED:
            body = {"movie_id": movie["movie_id"]}
            if answer.get("impression_id"):
                body["impression_id"] = answer["impression_id"]
            api.post(f"/user/{user}/clicked", body)
            clicks += 1
            likes += 1
        else:
            dislikes += 1
        api.put(f"/user/{user}/rating", {"movie_id": movie["movie_id"], "rating": stars})
    return answer, likes, dislikes, clicks


def replay(
    make_api: Callable[[], Api],
    data: SimulationData,
    *,
    users: Sequence[int] | None = None,
    sessions: int = 2,
    limit: int = 10,
    threads: int = 1,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ReplayTotals:
    """Every user (of ``users``, default all held-out users) visits ``sessions`` times, in a
    shuffled order per session; ``threads`` users at a time (``make_api`` gives each thread its
    client). ``progress(visits)`` after each visit."""
    chosen = list(users) if users is not None else data.users
    totals = ReplayTotals(users=len(chosen), sessions=sessions)
    local = threading.local()

    def client() -> Api:
        if not hasattr(local, "api"):
            local.api = make_api()
        return local.api

    def one(user: int) -> None:
        answer, likes, dislikes, clicks = visit(client(), user, data.held_out.get(user, {}), limit)
        totals.add(answer, likes, dislikes, clicks)
        if progress is not None:
            progress(1)

    order = random.Random(seed)
    for _ in range(sessions):
        visiting = chosen[:]
        order.shuffle(visiting)
        if threads <= 1:
            for user in visiting:
                one(user)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one, visiting))  # re-raises a failed visit
    return totals


# -- the offline evaluation of the same split ---------------------------------------------


def offline_ndcg(
    ratings: RatingArrays,
    rankers: Iterable[str],
    settings: Any,
    k: int = 10,
) -> dict[str, float]:
    """NDCG@k of each ranker (as the refresh builds it, rating model and all) on the same
    temporal split the simulation replays: ``movierec model evaluate --ranking``'s protocol."""
    from movierec.jobs.refresh import ranker_config, svd_params
    from movierec.recommender.evaluation import EvaluationContext, evaluate_rankers
    from movierec.recommender.ranker_registry import build_ranker
    from movierec.recommender.training import fit_svd

    split = temporal_split(ratings)
    context = EvaluationContext.build(
        split, settings.stat_movie_users_lower_limit, len(np.unique(ratings.movie_ids))
    )
    trained: list[Any] = []

    def rating_model() -> Any:
        if not trained:
            trained.append(fit_svd(split.train, svd_params(settings)).model)
        return trained[0]

    def maker(name: str) -> Callable[[], Any]:
        params = ranker_config(settings, name)[1]
        return lambda: build_ranker(
            name,
            params,
            rating_model=rating_model,
            rating_regularization=settings.model_reg_all,
            min_votes=settings.stat_movie_users_lower_limit,
        )

    makers = {name: maker(name) for name in rankers}
    results = evaluate_rankers(makers, context, k, LIKED)
    return {result.model: result.metrics["ndcg_rel"] for result in results}


def same_order(online: Mapping[str, float], offline: Mapping[str, float]) -> bool:
    """Whether two scorings of the same rankers rank them the same way (best first)."""
    names = sorted(set(online) & set(offline))
    return sorted(names, key=lambda n: -online[n]) == sorted(names, key=lambda n: -offline[n])


class HttpApi:
    """The API of a running server (``base`` like http://127.0.0.1:8000), with a key for the
    writes when the server needs one."""

    def __init__(self, base: str, key: str | None = None, timeout: float = 30) -> None:
        import requests

        self.base = base.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        if key:
            self.session.headers["X-API-Key"] = key
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.request(method, self.base + path, json=body, timeout=self.timeout)
        if response.status_code >= 300:
            raise ApiFailed(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def get(self, path: str) -> dict[str, Any]:
        return self._call("GET", path)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", path, body)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, body)
