"""Building the list a user is shown from the ranked lists: shared by the web tier (cached list
plus what the user rated since) and the offline evaluation, so that what is measured is what is
served."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def merge_recommendations(
    ranked: Sequence[int], backfill: Iterable[int], exclude: set[int], limit: int
) -> list[int]:
    """The first ``limit`` distinct movies of ``ranked`` then ``backfill`` (the top movies),
    skipping ``exclude`` (what the user rated, watched or dismissed)."""
    chosen: list[int] = []
    seen = set(exclude)
    for source in (ranked, backfill):
        for movie_id in source:
            if len(chosen) == limit:
                return chosen
            if movie_id not in seen:
                seen.add(movie_id)
                chosen.append(movie_id)
    return chosen
