"""Versioned publishing: ``{p}:{kind}:current`` names the version of ``kind`` ("recs" or
"stats") readers use; a publish writes a whole new version under keys that expire on their own
(so a killed refresh leaves nothing behind), then in one MULTI/EXEC makes them permanent, points
``current`` at them and gives the previous version a short grace TTL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import redis
from redis.exceptions import WatchError

from movierec.cache.connection import RedisConnection, log

# How long an unpublished version may live: longer than any refresh could take.
BUILD_TTL_SECONDS = 6 * 3600
# How long the previous version stays readable after a switch, for readers that already
# resolved it (and for a quick look when debugging).
GRACE_TTL_SECONDS = 300

# The keys of a statistics version: {p}:stats:{version}:{suffix}.
STATISTICS_KEY_SUFFIXES = ("movies", "top")

# A field of a hash of the current version: the version resolved and the field read inside
# Redis, in one round trip (false when none is published).
_READ_CURRENT_HASH_FIELD = """
local version = redis.call('GET', KEYS[1])
if not version then return false end
return redis.call('HGET', ARGV[1] .. version .. ARGV[2], ARGV[3])
"""


def new_version() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


class VersionedPublishing(RedisConnection):
    """Versions of "recs" and "stats": their keys, the switch to a new one, the current one."""

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
        return [self.key("stats", version, suffix) for suffix in STATISTICS_KEY_SUFFIXES]

    def current_version(self, kind: str) -> str | None:
        return self.client.get(self.key(kind, "current"))

    def _discard(self, kind: str, version: str) -> None:
        """Best-effort removal of an unfinished version (its TTL removes it otherwise)."""
        try:
            self.client.delete(*self._version_keys(kind, version))
        except redis.RedisError as error:
            log.warning("could not discard unfinished %s version %s: %s", kind, version, error)

    def published_version(self, kind: str) -> str | None:
        """The current version of ``kind`` ("recs" or "stats") if all its keys still exist;
        None when nothing is published, or when the version's keys are gone (a Redis restarted
        from an old or partial dump, an eviction) while ``current`` still names it."""
        version = self.current_version(kind)
        if version is None:
            return None
        keys = self._version_keys(kind, version, optional=False)
        return version if self.client.exists(*keys) == len(keys) else None

    def _read_current_field(self, kind: str, suffix: str, field: str) -> str | None:
        # One round trip: resolve the current version and read from it inside Redis.
        return self._script(_READ_CURRENT_HASH_FIELD)(
            keys=[self.key(kind, "current")],
            args=[self.key(kind, ""), suffix, field],
        )
