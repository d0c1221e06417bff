"""Movie statistics: ``{p}:stats:{version}:movies`` (movie id -> "votes,average") and
``{p}:stats:{version}:top`` (the top list), published as one version of "stats"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from movierec.cache.versions import (
    BUILD_TTL_SECONDS,
    STATISTICS_KEY_SUFFIXES,
    VersionedPublishing,
    new_version,
)

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

# One movie out of the current version's top list.
_REMOVE_FROM_CURRENT_TOP = """
local version = redis.call('GET', KEYS[1])
if not version then return 0 end
return redis.call('LREM', ARGV[1] .. version .. ':top', 0, ARGV[2])
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


@dataclass(frozen=True)
class MovieStat:
    movie_id: int
    votes: int
    avg_rating: float | None


class MovieStatistics(VersionedPublishing):
    """Every movie's votes and average and the top list: published, and read by movie or by
    rank."""

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

    def leave_out_of_top(self, movie_id: int) -> None:
        """Take a movie out of the current top list (retired: never listed again, even before
        the next statistics refresh leaves it out). Its statistics stay."""
        self._script(_REMOVE_FROM_CURRENT_TOP)(
            keys=[self.key("stats", "current")], args=[self.key("stats", ""), str(movie_id)]
        )

    def statistics_and_catalogue_versions(self) -> tuple[str | None, str | None]:
        """``published_version("stats")`` and ``catalogue_version()``'s current value (None
        when not set yet), read in one round trip."""
        statistics, catalogue = self._script(_READ_STATISTICS_AND_CATALOGUE_VERSIONS)(
            keys=[self.key("stats", "current"), self.key("catalogue", "version")],
            args=[self.key("stats", ""), *STATISTICS_KEY_SUFFIXES],
        )
        return statistics, catalogue
