"""The Redis store of precomputed results: versioned, atomically published, cheap to read.

Key layout (every key starts with the configured prefix, ``movierec`` by default)::

    {p}:recs:current            -> version id of the recommendation set readers use
    {p}:recs:{version}          HASH  user_id -> "movie:score:stars:reasons,..." (best first;
                                      score = the ranker's, stars = the rating model's
                                      prediction, empty when unknown; reasons = the liked
                                      movies that explain it, "id;id", maybe empty. Older
                                      values, "movie:score:stars,..." and "movie,movie,...",
                                      are still read)
    {p}:recs:{version}:model    STRING  the servable model (``recommender.serving``, .npz bytes):
                                        what the web tier folds new ratings into
    {p}:stats:current           -> version id of the statistics readers use
    {p}:stats:{version}:movies  HASH  movie_id -> "votes,average" (average empty below the limit)
    {p}:stats:{version}:top     LIST  movie ids, votes desc then average desc
    {p}:catalogue:version       -> version id of the movie catalogue (new after every load)
    {p}:users:changed           HASH  user_id -> epoch seconds of the user's latest write that
                                      changes what they may be recommended (after its commit):
                                      a list from ratings read before it is out of date

A publish writes a whole new version under keys that expire on their own (so a killed refresh
leaves nothing behind), then in one MULTI/EXEC makes them permanent, points ``current`` at them
and gives the previous version a short grace TTL. A reader therefore sees the old complete set or
the new complete set, never a mix, a gap or an empty set.

Jobs that must not overlap (two schedulers, or a scheduler and a manual ``movierec train``)
hold ``{p}:lock:{job}`` through ``hold_lock``: a short-lived Redis lock renewed while the job
runs, so a killed job frees it within a minute.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import LockError, WatchError

if TYPE_CHECKING:
    from flask import Flask

    from movierec.config import Settings
    from movierec.recommender.serving import ServingModel

# How long an unpublished version may live: longer than any refresh could take.
BUILD_TTL_SECONDS = 6 * 3600
# How long the previous version stays readable after a switch, for readers that already
# resolved it (and for a quick look when debugging).
GRACE_TTL_SECONDS = 300
# A job lock expires this long after its holder stops renewing it (killed, frozen, cut off).
LOCK_TTL_SECONDS = 60
# How often a process looks for a newer servable model (one GET of the current version).
MODEL_CHECK_SECONDS = 1.0

log = logging.getLogger(__name__)

_READ_CURRENT_HASH_FIELD = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
return redis.call('HGET', ARGV[1] .. version .. ARGV[2], ARGV[3])
"""

# A user's published list with the version it belongs to, the catalogue's version and the
# time the user last changed, in one round trip: {recommendations version, list, catalogue
# version, changed}, each nil when there is none.
_READ_USER_LIST = """
local version = redis.call('GET', KEYS[1])
local list = false
if version then list = redis.call('HGET', ARGV[1] .. version, ARGV[2]) end
return {version, list, redis.call('GET', KEYS[2]), redis.call('HGET', KEYS[3], ARGV[2])}
"""

# Set the user's change mark to ARGV[2] unless it holds a later one: two writers' marks may
# arrive out of order, and the later change is the one a list must not be older than.
_MARK_CHANGED = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and tonumber(held) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# Drop the change marks at or before ARGV[1] (epoch seconds): a published refresh read the
# ratings after them, so no list can be older than they are.
_FORGET_CHANGES_BEFORE = """
local marks = redis.call('HGETALL', KEYS[1])
local dropped = 0
for i = 1, #marks, 2 do
    if tonumber(marks[i + 1]) <= tonumber(ARGV[1]) then
        redis.call('HDEL', KEYS[1], marks[i])
        dropped = dropped + 1
    end
end
return dropped
"""

# The keys of a statistics version: {p}:stats:{version}:{suffix}.
_STATISTICS_KEY_SUFFIXES = ("movies", "top")

# The current statistics version, if its keys (ARGV[2..]: their suffixes) are all there, else
# false, and the catalogue's version (false when not set): what a top-movies answer from the
# published statistics is a function of, read in one round trip.
_READ_STATISTICS_AND_CATALOGUE_VERSIONS = """
local version = redis.call('GET', KEYS[1])
if version then
    for i = 2, #ARGV do
        if redis.call('EXISTS', ARGV[1] .. version .. ':' .. ARGV[i]) == 0 then
            version = false
            break
        end
    end
end
return {version, redis.call('GET', KEYS[2])}
"""

# Top-list entries start..stop (inclusive, LRANGE style) of the current statistics version.
_READ_CURRENT_TOP_IDS = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
return redis.call('LRANGE', ARGV[1] .. version .. ':top', ARGV[2], ARGV[3])
"""

# The same entries with their "votes,average" values, read from one version in one step.
_READ_CURRENT_TOP_STATS = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
local ids = redis.call('LRANGE', ARGV[1] .. version .. ':top', ARGV[2], ARGV[3])
local movies = ARGV[1] .. version .. ':movies'
local values = {}
for first = 1, #ids, 1000 do
    local chunk = redis.call('HMGET', movies, unpack(ids, first, math.min(first + 999, #ids)))
    for _, value in ipairs(chunk) do values[#values + 1] = value end
end
return {ids, values}
"""

# Fields of a hash of the current version: false when none is published, else HMGET's values
# (nil for a missing field), read in chunks (Lua's unpack has a limit on its arguments).
_READ_CURRENT_HASH_FIELDS = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
local key = ARGV[1] .. version .. ARGV[2]
local values = {}
for first = 3, #ARGV, 1000 do
    local chunk = redis.call('HMGET', key, unpack(ARGV, first, math.min(first + 999, #ARGV)))
    for _, value in ipairs(chunk) do values[#values + 1] = value end
end
return values
"""


class LockBusy(Exception):
    """Another process holds the job lock; the message says which job and who holds it."""


@dataclass(frozen=True)
class MovieStat:
    movie_id: int
    votes: int
    avg_rating: float | None


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
) -> str:
    """``movie:score:stars:reasons`` entries joined by commas (``movie:score:stars`` without
    ``reasons``: a row of liked movie ids per movie, -1 for none). Scores keep 6 significant
    digits (only their order matters), stars 3 decimals; a missing or NaN value is left empty."""
    if scores is None:
        return ",".join(str(int(movie)) for movie in movie_ids)
    stars = predicted_ratings if predicted_ratings is not None else [math.nan] * len(movie_ids)
    entries = [
        f"{int(movie)}:{_number(score, '.6g')}:{_number(star, '.3f')}"
        for movie, score, star in zip(movie_ids, scores, stars, strict=True)
    ]
    if reasons is not None:
        rows = reasons.tolist() if hasattr(reasons, "tolist") else reasons
        entries = [
            f"{entry}:{';'.join(str(liked) for liked in row if liked >= 0)}"
            for entry, row in zip(entries, rows, strict=True)
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
            if why:
                reasons[movie_id] = [int(liked) for liked in why.split(";")]
    return CachedList(movie_ids, scores, stars, reasons if explained else None)


def new_version() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class CacheStore:
    """Lazily connects, so that nothing touches Redis at import or app-creation time."""

    def __init__(
        self, url: str | None = None, prefix: str = "movierec", chunk_size: int = 1000
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.chunk_size = chunk_size
        self._client: redis.Redis | None = None
        self._binary_client: redis.Redis | None = None
        self._model: ServingModel | None = None
        self._model_version: str | None = None
        self._model_checked = -float("inf")
        self._model_lock = threading.Lock()
        self._scripts: dict[str, redis.commands.core.Script] = {}
        # Concurrent first uses (gthread workers, scheduler jobs) must share one client and pool.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheStore:
        return cls(settings.redis_url, settings.redis_key_prefix, settings.redis_chunk_size)

    def init_app(self, app: Flask) -> None:
        settings = app.config["MOVIEREC_SETTINGS"]
        self.url = settings.redis_url
        self.prefix = settings.redis_key_prefix
        self.chunk_size = settings.redis_chunk_size
        app.extensions["movierec.cache"] = self

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.url is None:
                        raise RuntimeError("CacheStore has no URL: call init_app() or pass one")
                    self._client = redis.Redis.from_url(
                        self.url,
                        decode_responses=True,
                        socket_timeout=5,
                        socket_connect_timeout=5,
                        health_check_interval=30,
                    )
        return self._client

    @property
    def binary_client(self) -> redis.Redis:
        """A client that returns bytes (model blobs), sharing nothing with ``client``."""
        if self._binary_client is None:
            with self._lock:
                if self._binary_client is None:
                    if self.url is None:
                        raise RuntimeError("CacheStore has no URL: call init_app() or pass one")
                    self._binary_client = redis.Redis.from_url(
                        self.url, socket_timeout=30, socket_connect_timeout=5
                    )
        return self._binary_client

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(part) for part in parts)])

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._scripts.clear()
        if self._binary_client is not None:
            self._binary_client.close()
            self._binary_client = None

    def _script(self, source: str) -> redis.commands.core.Script:
        # Registered once per client: later calls are a single EVALSHA.
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    # -- job locks --------------------------------------------------------------------------

    @contextmanager
    def hold_lock(self, job: str, ttl: float = LOCK_TTL_SECONDS) -> Iterator[None]:
        """Run the block as the only holder of ``job``'s lock, or raise ``LockBusy`` at once.

        The lock expires ``ttl`` seconds after the last renewal; a thread renews it every
        ``ttl / 3`` seconds while the block runs, so a long refresh keeps it and a killed one
        loses it soon.
        """
        name = self.key("lock", job)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lock = self.client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        if not lock.acquire(token=holder):
            raise LockBusy(
                f"another {job} job is running (lock {name} held by {self.client.get(name)})"
            )
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl / 3):
                try:
                    lock.reacquire()
                except (LockError, redis.RedisError) as error:
                    log.warning("could not renew lock %s: %s", name, error)

        renewer = threading.Thread(target=renew, name=f"renew-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                lock.release()
            except (LockError, redis.RedisError) as error:
                log.warning("lock %s was lost before release: %s", name, error)

    def lock_holder(self, job: str) -> str | None:
        """Who holds ``job``'s lock now (host:pid:token), or None."""
        return self.client.get(self.key("lock", job))

    # -- publishing -------------------------------------------------------------------------

    def _switch(self, kind: str, version: str, new_keys: Sequence[str]) -> None:
        """Atomically make ``version`` the current one of ``kind`` and retire the previous."""
        current_key = self.key(kind, "current")
        with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # Retried if another publisher switches in between, so that the version
                    # it retires is the one this switch replaces.
                    pipe.watch(current_key)
                    previous = pipe.get(current_key)
                    pipe.multi()
                    for key in new_keys:
                        pipe.persist(key)
                    pipe.set(current_key, version)
                    if previous and previous != version:
                        for key in self._version_keys(kind, previous):
                            pipe.expire(key, GRACE_TTL_SECONDS)
                    pipe.execute()
                    return
                except WatchError:
                    continue

    def _version_keys(self, kind: str, version: str, *, optional: bool = True) -> list[str]:
        """The keys of a version; ``optional``: also the model blob, which a version may lack
        (published without one)."""
        if kind == "recs":
            model = [self.key("recs", version, "model")] if optional else []
            return [self.key("recs", version), *model]
        return [self.key("stats", version, suffix) for suffix in _STATISTICS_KEY_SUFFIXES]

    def current_version(self, kind: str) -> str | None:
        return self.client.get(self.key(kind, "current"))

    def _discard(self, kind: str, version: str) -> None:
        """Best-effort removal of an unfinished version (its TTL removes it otherwise)."""
        try:
            self.client.delete(*self._version_keys(kind, version))
        except redis.RedisError as error:
            log.warning("could not discard unfinished %s version %s: %s", kind, version, error)

    def recommendation_users(self) -> int:
        """How many users the current recommendation set holds lists for."""
        version = self.current_version("recs")
        return int(self.client.hlen(self.key("recs", version))) if version else 0

    def publish_recommendations(
        self,
        lists: Iterable[tuple[Any, ...]],
        version: str | None = None,
        model: bytes | None = None,
    ) -> str:
        """Store every user's ranked list under a new version, then switch to it.

        Each item is ``(user_id, movie_ids)`` or ``(user_id, movie_ids, scores,
        predicted_ratings)`` (a ``ScoredList``). ``lists`` may be a generator (scoring in
        batches): it is written in pipelined chunks of ``chunk_size`` commands as it comes.
        ``model`` (the servable model's bytes) is published with the lists, in the same switch.
        """
        version = version or new_version()
        hash_key = self.key("recs", version)
        new_keys = [hash_key]
        try:
            if model is not None:
                model_key = self.key("recs", version, "model")
                self.binary_client.set(model_key, model, ex=BUILD_TTL_SECONDS)
                new_keys.append(model_key)
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

    def model_blob(self, version: str) -> bytes | None:
        """The servable model published with recommendations ``version``, or None."""
        return self.binary_client.get(self.key("recs", version, "model"))

    def serving_model(self, seen_version: str | None = None) -> ServingModel | None:
        """The current version's servable model, loaded once per version by this process and
        shared by its threads; a new version is picked up within ``MODEL_CHECK_SECONDS``, or at
        once when the caller has ``seen_version`` (read with a user's list) and this process
        holds another: a list and the model it is judged by must come from one refresh. None
        when none is published (or it cannot be read: logged, and the lists still serve)."""
        now = time.monotonic()

        def fresh() -> bool:
            if seen_version is not None and seen_version != self._model_version:
                return False
            return now - self._model_checked < MODEL_CHECK_SECONDS

        if fresh():
            return self._model
        with self._model_lock:
            if fresh():
                return self._model
            try:
                version = self.current_version("recs")
            except redis.RedisError as error:  # keep the model this process has, if any
                log.warning("cannot check the published model version: %s", error)
                self._model_checked = now
                return self._model
            if version != self._model_version:
                try:
                    self._model = self._load_model(version)
                    self._model_version = version
                except redis.RedisError as error:  # keep this process's; retried next check
                    log.warning("recommendations %s: cannot read its model: %s", version, error)
            self._model_checked = now
        return self._model

    def _load_model(self, version: str | None) -> ServingModel | None:
        from movierec.recommender.serving import ServingModel, ServingModelError

        blob = self.model_blob(version) if version else None
        if blob is None:
            return None
        try:
            return ServingModel.from_bytes(blob)
        except ServingModelError as error:
            log.error("recommendations %s: cannot load its model: %s", version, error)
            return None

    def publish_statistics(self, stats: Iterable[MovieStat], version: str | None = None) -> str:
        """Store every movie's votes and average plus the top list, then switch to them.

        ``stats`` must already be in top-list order (votes desc, then average desc).
        """
        version = version or new_version()
        movies_key = self.key("stats", version, "movies")
        top_key = self.key("stats", version, "top")
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(movies_key, "__building__", "1")
            pipe.expire(movies_key, BUILD_TTL_SECONDS)
            pending = 2
            top_chunk: list[int] = []
            for stat in stats:
                average = "" if stat.avg_rating is None else repr(float(stat.avg_rating))
                pipe.hset(movies_key, str(stat.movie_id), f"{stat.votes},{average}")
                top_chunk.append(stat.movie_id)
                pending += 1
                if pending >= self.chunk_size:
                    pipe.rpush(top_key, *top_chunk)
                    pipe.expire(top_key, BUILD_TTL_SECONDS)
                    pipe.execute()
                    pending, top_chunk = 0, []
            if top_chunk:
                pipe.rpush(top_key, *top_chunk)
                pipe.expire(top_key, BUILD_TTL_SECONDS)
            pipe.hdel(movies_key, "__building__")
            pipe.execute()
        except BaseException:
            self._discard("stats", version)
            raise
        self._switch("stats", version, [movies_key, top_key])
        return version

    # -- the movie catalogue's version ------------------------------------------------------

    def catalogue_version(self) -> str:
        """The movie catalogue's current version: what processes key their copies of movie
        details by. A new one is made by ``new_catalogue_version`` (after every load) or here,
        when there is none yet (or Redis lost it): every process then drops what it kept."""
        key = self.key("catalogue", "version")
        version = self.client.get(key)
        if version is None:
            self.client.set(key, new_version(), nx=True)  # the first of concurrent readers wins
            version = self.client.get(key)
        return version

    def new_catalogue_version(self) -> str:
        """Announce that the movie catalogue changed (a load committed)."""
        version = new_version()
        self.client.set(self.key("catalogue", "version"), version)
        return version

    # -- reading ----------------------------------------------------------------------------

    def _read_current_field(self, kind: str, suffix: str, field: str) -> str | None:
        # One round trip: resolve the current version and read from it inside Redis.
        return self._script(_READ_CURRENT_HASH_FIELD)(
            keys=[self.key(kind, "current")],
            args=[self.key(kind, ""), suffix, field],
        )

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

    def mark_user_changed(self, user_id: int, at: float) -> None:
        """Note that the user wrote something that changes what they may be recommended, at
        ``at`` (epoch seconds, after the write committed): a list from ratings read before
        then is out of date (``services.changes``). A later mark never goes back in time."""
        self._script(_MARK_CHANGED)(
            keys=[self.key("users", "changed")], args=[str(user_id), repr(float(at))]
        )

    def forget_changes_before(self, at: float) -> int:
        """Drop the change marks at or before ``at``: the current set's ratings were read
        after them. Returns how many were dropped."""
        return int(
            self._script(_FORGET_CHANGES_BEFORE)(keys=[self.key("users", "changed")], args=[at])
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

    def movie_stat(self, movie_id: int) -> MovieStat | None:
        value = self._read_current_field("stats", ":movies", str(movie_id))
        if value is None:
            return None
        votes, _, average = value.partition(",")
        return MovieStat(movie_id, int(votes), float(average) if average else None)

    def movie_average(self, movie_id: int) -> float | None:
        stat = self.movie_stat(movie_id)
        return stat.avg_rating if stat else None

    def movie_stats(self, movie_ids: Sequence[int]) -> dict[int, MovieStat] | None:
        """The current statistics of these movies, read in one round trip, keyed by id (movies
        without statistics are absent); None when no statistics have been published yet."""
        values = self._script(_READ_CURRENT_HASH_FIELDS)(
            keys=[self.key("stats", "current")],
            args=[self.key("stats", ""), ":movies", *(int(m) for m in movie_ids)],
        )
        if values is None:
            return None
        found = {}
        for movie_id, value in zip(movie_ids, values, strict=True):
            if value is not None:
                votes, _, average = value.partition(",")
                found[int(movie_id)] = MovieStat(
                    int(movie_id), int(votes), float(average) if average else None
                )
        return found

    def top_movie_ids(self, start: int, stop: int) -> list[int] | None:
        """Movie ids ``start``..``stop-1`` of the current top list, or None when no statistics
        have been published yet (as opposed to [] for a range past the end)."""
        if stop <= start:
            return [] if self.current_version("stats") else None
        ids = self._script(_READ_CURRENT_TOP_IDS)(
            keys=[self.key("stats", "current")], args=[self.key("stats", ""), start, stop - 1]
        )
        return None if ids is None else [int(m) for m in ids]

    def top_movies(self, start: int, stop: int) -> list[MovieStat]:
        """Entries ``start``..``stop-1`` of the current top list with their statistics, read
        from one version in one round trip ([] when none are published)."""
        if stop <= start:
            return []
        found = self._script(_READ_CURRENT_TOP_STATS)(
            keys=[self.key("stats", "current")], args=[self.key("stats", ""), start, stop - 1]
        )
        if not found:
            return []
        movie_ids, values = found
        result = []
        for movie_id, value in zip(movie_ids, values, strict=True):
            if value is None:  # cannot happen for a published version; never fail a read on it
                continue
            votes, _, average = value.partition(",")
            result.append(MovieStat(int(movie_id), int(votes), float(average) if average else None))
        return result

    # -- recovery (issue 10): is anything published, and locks of dead holders ---------------

    def statistics_and_catalogue_versions(self) -> tuple[str | None, str | None]:
        """``published_version("stats")`` and ``catalogue_version()``'s current value (None
        when not set yet), read in one round trip."""
        statistics, catalogue = self._script(_READ_STATISTICS_AND_CATALOGUE_VERSIONS)(
            keys=[self.key("stats", "current"), self.key("catalogue", "version")],
            args=[self.key("stats", ""), *_STATISTICS_KEY_SUFFIXES],
        )
        return statistics, catalogue

    def published_version(self, kind: str) -> str | None:
        """The current version of ``kind`` ("recs" or "stats") if all its keys still exist;
        None when nothing is published, or when the version's keys are gone (a Redis restarted
        from an old or partial dump, an eviction) while ``current`` still names it."""
        version = self.current_version(kind)
        if version is None:
            return None
        keys = self._version_keys(kind, version, optional=False)
        return version if self.client.exists(*keys) == len(keys) else None

    def break_lock(self, job: str, holder: str) -> bool:
        """Delete ``job``'s lock if ``holder`` still holds it (a holder known to be dead); True
        if it was deleted. Atomic, so a lock a live process took meanwhile is never touched."""
        return bool(self._script(_DELETE_IF_HELD_BY)(keys=[self.key("lock", job)], args=[holder]))


# Redis cannot answer at all (refused, lost, timed out), as opposed to a bug: readers that have
# a fallback read around it.
REDIS_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)

_DELETE_IF_HELD_BY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
