"""The Redis stream that recorded answers and clicks wait in until the scheduler drains them into
the database: ``{p}:impressions``, capped at about IMPRESSIONS_STREAM_MAX_LENGTH entries (the
oldest go first; Redis trims whole nodes, hence "about").

Each entry is one field, ``d``, holding the record's values joined by ``|`` (one field, not
one per value: a web process packs and Redis stores a tenth of the fields, and no value can
hold a ``|``: names of arms and experiments are checked, the rest are numbers and fixed words):

    answer:  a|epoch seconds|user|movie ids best first ("3,1,2")|first rank|source|ranker|arm|
             experiment ("" none)|model version ("" none)|fingerprint (signed 64-bit)
    click:   c|epoch seconds|user|movie id|fingerprint of the impression it names ("" none)

The stream id Redis gives an entry is its identity from then on: the drain keeps the last id it
wrote in the same database transaction as the rows (``jobs.impressions``), and the rows carry
their entry's id, so a drain repeated after a crash finds and writes exactly what was left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from movierec.cache.store import CacheStore

STREAM = "impressions"


@dataclass(frozen=True, slots=True)
class Shown:
    """What one recommendations answer showed a user (without the time it was shown)."""

    user_id: int
    movie_ids: tuple[int, ...]  # best first
    first_rank: int  # the page's offset: movie_ids[i] was shown at rank first_rank + i
    source: str
    ranker: str
    arm: str
    experiment: str | None
    model_version: str | None
    fingerprint: int  # signed 64-bit: the answer's identity (``services.impressions``)


@dataclass(frozen=True, slots=True)
class Click:
    """A user opened a recommended movie (``POST /user/<id>/clicked``)."""

    user_id: int
    movie_id: int
    fingerprint: int | None  # of the impression it names, if the client sent one


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream_id: str
    at: float  # epoch seconds
    record: Shown | Click


FIELD = "d"


def encode(at: float, record: Shown | Click) -> dict[str, str]:
    if isinstance(record, Click):
        named = "" if record.fingerprint is None else str(record.fingerprint)
        return {FIELD: f"c|{at!r}|{record.user_id}|{record.movie_id}|{named}"}
    movies = ",".join(map(str, record.movie_ids))
    return {
        FIELD: f"a|{at!r}|{record.user_id}|{movies}|{record.first_rank}|{record.source}|"
        f"{record.ranker}|{record.arm}|{record.experiment or ''}|{record.model_version or ''}|"
        f"{record.fingerprint}"
    }


def decode(stream_id: str, fields: dict[str, str]) -> StreamEntry:
    """An entry as ``encode`` wrote it; ValueError (or KeyError) for anything else."""
    values = fields[FIELD].split("|")
    kind, at, user_id = values[0], float(values[1]), int(values[2])
    if kind == "c" and len(values) == 5:
        record: Shown | Click = Click(
            user_id, int(values[3]), int(values[4]) if values[4] else None
        )
    elif kind == "a" and len(values) == 11:
        movies = values[3]
        record = Shown(
            user_id=user_id,
            movie_ids=tuple(int(m) for m in movies.split(",")) if movies else (),
            first_rank=int(values[4]),
            source=values[5],
            ranker=values[6],
            arm=values[7],
            experiment=values[8] or None,
            model_version=values[9] or None,
            fingerprint=int(values[10]),
        )
    else:
        raise ValueError(f"not an answer or a click: {fields[FIELD][:80]!r}")
    return StreamEntry(stream_id, at, record)


def after(stream_id: str) -> str:
    """The smallest stream id greater than ``stream_id`` ("ms-seq")."""
    ms, _, seq = stream_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class ImpressionStream:
    """The stream of one deployment (the cache's key prefix)."""

    def __init__(self, cache: CacheStore, max_length: int = 200_000) -> None:
        self.cache = cache
        self.key = cache.key(STREAM)
        self.max_length = max_length

    def append(self, entries: Iterable[tuple[float, Shown | Click]]) -> int:
        """Add ``(time, record)`` entries in one pipelined round trip; how many were sent.
        Raises Redis' errors (the caller keeps the entries and tries again)."""
        pipe = self.cache.client.pipeline(transaction=False)
        count = 0
        for at, record in entries:
            pipe.xadd(self.key, encode(at, record), maxlen=self.max_length, approximate=True)
            count += 1
        if count:
            pipe.execute()
        return count

    def read_after(self, last_id: str | None, count: int) -> list[tuple[str, dict[str, str]]]:
        """Up to ``count`` raw entries after ``last_id`` (from the start when None), oldest
        first, as ``(stream id, fields)``."""
        start = "-" if last_id is None else "(" + last_id
        return self.cache.client.xrange(self.key, min=start, max="+", count=count)

    def trim_through(self, last_id: str) -> int:
        """Drop the entries up to ``last_id`` (drained): the stream holds only what waits."""
        return int(self.cache.client.xtrim(self.key, minid=after(last_id), approximate=False))

    def length(self) -> int:
        return int(self.cache.client.xlen(self.key))

    def first_id(self) -> str | None:
        """The id of the oldest entry still held (None: empty)."""
        entries: Sequence = self.cache.client.xrange(self.key, count=1)
        return entries[0][0] if entries else None
