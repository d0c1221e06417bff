"""Every user's published list: ``{p}:recs:{version}``, a hash of user id -> the encoded
list (``encode_list``), published as one version of "recs" with the servable model."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from movierec.cache.versions import BUILD_TTL_SECONDS, VersionedPublishing, new_version

# A user's published list with the version it belongs to, the catalogue's version and the
# time the user last changed, in one round trip: {recommendations version, list, catalogue
# version, changed}, each nil when there is none.
_READ_USER_LIST = """
local version = redis.call('GET', KEYS[1])
local list = false
if version then list = redis.call('HGET', ARGV[1] .. version, ARGV[2]) end
return {version, list, redis.call('GET', KEYS[2]), redis.call('HGET', KEYS[3], ARGV[2])}
"""


@dataclass(frozen=True)
class CachedList:
    """A user's published list: movie ids best first, and per movie the ranker's score and the
    predicted stars (None where not published: lists from before the two models)."""

    movie_ids: list[int]
    scores: dict[int, float]
    predicted_ratings: dict[int, float]
    # Per movie the liked movies that explain it (absent: none); None when the list was
    # published without them (older lists, fold-in lists before they are explained).
    reasons: dict[int, list[int]] | None = None
    # The movies whose reason is the one of the user's latest ratings they follow ("because
    # you just watched": ``recommender.just_watched``), not liked movies; their ``reasons``
    # hold that one movie.
    just_watched: frozenset[int] = frozenset()


@dataclass(frozen=True)
class PublishedList:
    """What a recommendations answer reads from Redis first (``CacheStore.published_list``)."""

    version: str | None  # the current recommendations set; None when none is published
    value: str | None  # the user's list in it, as stored; None when it has none
    catalogue_version: str | None  # the movie catalogue's (None: not set yet)
    changed_at: float | None = None  # the user's latest change mark (``mark_user_changed``)

    @functools.cached_property
    def cached(self) -> CachedList | None:
        """The user's whole list, decoded (once)."""
        return None if self.value is None else decode_list(self.value)

    def length(self) -> int:
        """How many movies the list holds (0 without one), without decoding it."""
        return 0 if not self.value else self.value.count(",") + 1

    def head(self, n: int) -> CachedList | None:
        """The list's first ``n`` movies, decoded (a page needs no more)."""
        return None if self.value is None else decode_list(self.value, n)


NOTHING_PUBLISHED = PublishedList(None, None, None)


def encode_list(
    movie_ids: Sequence[int],
    scores: Sequence[float] | None = None,
    predicted_ratings: Sequence[float] | None = None,
    reasons: Sequence[Sequence[int]] | None = None,
    followed: Sequence[int] | None = None,
) -> str:
    """``movie:score:stars:reasons`` entries joined by commas (``movie:score:stars`` without
    ``reasons``: a row of liked movie ids per movie, -1 for none). Scores keep 6 significant
    digits (only their order matters), stars 3 decimals; a missing or NaN value is left empty.

    ``followed`` (with ``reasons``): per movie the movie it follows, -1 for none; where there
    is one, it is the reason, written as its negative id (``-318``). Negative because a
    reader from before "just watched" still parses it, finds no such movie and shows no
    reason, rather than failing on a marker it does not know; movie ids are positive."""
    if scores is None:
        return ",".join(str(int(movie)) for movie in movie_ids)
    stars = predicted_ratings if predicted_ratings is not None else [math.nan] * len(movie_ids)
    entries = [
        f"{int(movie)}:{_number(score, '.6g')}:{_number(star, '.3f')}"
        for movie, score, star in zip(movie_ids, scores, stars, strict=True)
    ]
    if reasons is not None:
        rows = reasons.tolist() if hasattr(reasons, "tolist") else reasons
        follows = [-1] * len(rows) if followed is None else list(map(int, followed))
        entries = [
            f"{entry}:-{source}"
            if source >= 0
            else f"{entry}:{';'.join(str(liked) for liked in row if liked >= 0)}"
            for entry, row, source in zip(entries, rows, follows, strict=True)
        ]
    return ",".join(entries)


def _number(value: float, spec: str) -> str:
    return "" if value is None or math.isnan(value) else format(float(value), spec)


def decode_list(value: str, first: int | None = None) -> CachedList:
    """An ``encode_list`` value (or an older one) as a ``CachedList``; only its ``first``
    entries when given."""
    movie_ids: list[int] = []
    scores: dict[int, float] = {}
    stars: dict[int, float] = {}
    reasons: dict[int, list[int]] = {}
    just_watched: set[int] = set()
    explained = False
    entries = value.split(",") if first is None else value.split(",", first)[:first]
    for entry in entries if value else ():
        parts = entry.split(":", 3)
        movie_id = int(parts[0])
        score, star = (parts[1], parts[2]) if len(parts) > 2 else ("", "")
        why = parts[3] if len(parts) > 3 else None
        movie_ids.append(movie_id)
        if score:
            scores[movie_id] = float(score)
        if star:
            stars[movie_id] = float(star)
        if why is not None:
            explained = True
            if why.startswith("-"):  # the movie it follows (``encode_list``)
                just_watched.add(movie_id)
                reasons[movie_id] = [int(why[1:])]
            elif why:
                reasons[movie_id] = [int(liked) for liked in why.split(";")]
    return CachedList(
        movie_ids, scores, stars, reasons if explained else None, frozenset(just_watched)
    )


class RecommendationLists(VersionedPublishing):
    """Every user's list: published as a new version of "recs", read one user at a time."""

    def recommendation_users(self) -> int:
        """How many users the current recommendation set holds lists for."""
        version = self.current_version("recs")
        return int(self.client.hlen(self.key("recs", version))) if version else 0

    def publish_recommendations(
        self,
        lists: Iterable[tuple[Any, ...]],
        version: str | None = None,
        model: bytes | None = None,
        experiment: dict[str, Any] | None = None,
        arm_models: dict[str, bytes] | None = None,
    ) -> str:
        """Store every user's ranked list under a new version, then switch to it.

        Each item is ``(user_id, movie_ids)`` or ``(user_id, movie_ids, scores,
        predicted_ratings)`` (a ``ScoredList``). ``lists`` may be a generator (scoring in
        batches): it is written in pipelined chunks of ``chunk_size`` commands as it comes.
        ``model`` (the servable model's bytes) is published with the lists, in the same switch;
        with an A/B ``experiment`` (``Experiment.to_dict``), so are the models of its other
        arms (``arm_models``: arm -> bytes; the first arm's is ``model``).
        """
        version = version or new_version()
        hash_key = self.key("recs", version)
        new_keys = [hash_key]
        try:
            if model is not None:
                model_key = self.key("recs", version, "model")
                self.binary_client.set(model_key, model, ex=BUILD_TTL_SECONDS)
                new_keys.append(model_key)
            if experiment is not None:
                new_keys.append(self._write_arms(version, experiment, arm_models or {}))
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(hash_key, "__building__", "1")
            pipe.expire(hash_key, BUILD_TTL_SECONDS)
            pending = 2
            for user_list in lists:
                pipe.hset(hash_key, str(user_list[0]), encode_list(*user_list[1:]))
                pending += 1
                if pending >= self.chunk_size:
                    pipe.execute()
                    pending = 0
            pipe.hdel(hash_key, "__building__")
            pipe.execute()
        except BaseException:
            self._discard("recs", version)
            raise
        # The marker field keeps the hash (and its TTL) alive even when there are no users yet.
        self._switch("recs", version, new_keys)
        return version

    def _write_arms(
        self, version: str, experiment: dict[str, Any], arm_models: dict[str, bytes]
    ) -> str:
        from movierec.cache.model_blob import ARMS_SUFFIX, EXPERIMENT_FIELD, arm_model_field

        key = self.key("recs", version, ARMS_SUFFIX)
        with self.binary_client.pipeline(transaction=False) as pipe:
            pipe.hset(key, EXPERIMENT_FIELD, json.dumps(experiment))
            for arm, blob in arm_models.items():
                pipe.hset(key, arm_model_field(arm), blob)
            pipe.expire(key, BUILD_TTL_SECONDS)
            pipe.execute()
        return key

    def cached_list(self, user_id: int) -> CachedList | None:
        """The cached ranked list of a user, or None when the current set has none."""
        return self.published_list(user_id).cached

    def published_list(self, user_id: int) -> PublishedList:
        """The user's list in the current recommendations set, read in one round trip with
        that set's version, the movie catalogue's and the user's change mark."""
        version, value, catalogue_version, changed = self._script(_READ_USER_LIST)(
            keys=[
                self.key("recs", "current"),
                self.key("catalogue", "version"),
                self.key("users", "changed"),
            ],
            args=[self.key("recs", ""), str(user_id)],
        )
        return PublishedList(
            version, value, catalogue_version, None if changed is None else float(changed)
        )

    def recommendations_for(self, user_id: int) -> list[int] | None:
        """The cached ranked movie ids of a user, or None when the current set has none."""
        cached = self.cached_list(user_id)
        return None if cached is None else cached.movie_ids

    def forget_user(self, user_id: int) -> None:
        """Drop a user's cached list from the current set (a deleted user)."""
        version = self.current_version("recs")
        if version:
            self.client.hdel(self.key("recs", version), str(user_id))
