"""Movie look-ups, title search, a movie's statistics, and the movies similar to one (the
published model's movie space; a movie created since the refresh placed there by its content)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from movierec.cache import CacheStore
from movierec.cache.connection import REDIS_UNAVAILABLE
from movierec.db import Database
from movierec.db.repositories import movies as movies_repo
from movierec.db.repositories.movies import MovieDetails
from movierec.db.repositories.statistics import movie_votes_and_average
from movierec.recommender.content_features import MovieContent
from movierec.services.catalogue import MovieCatalogue
from movierec.services.errors import InvalidInput

# A search orders at most this many matching titles (ids only) by votes: a one-letter query
# over MovieLens-25M's catalogue matches most of it, and nobody looks that far.
SEARCH_CANDIDATES = 5000


def get_movie(catalogue: MovieCatalogue, movie_id: int) -> MovieDetails:
    """A movie's details (from the process's catalogue copy; retired ones too), or
    ``NotFound``."""
    return catalogue.get_movie(movie_id)


def is_new(cache: CacheStore, movie_id: int) -> bool | None:
    """Whether the movie is new (``ServingModel.is_new``: fewer than CONTENT_WARM_RATINGS
    ratings at the last refresh, or created since); None when no model is published."""
    model = cache.serving_model()
    return None if model is None else bool(model.is_new(np.array([movie_id]))[0])


def movie_content(movie: MovieDetails) -> MovieContent:
    """A movie's content, as the content model reads it."""
    return MovieContent.of(
        [movie.movie_id],
        titles=[movie.title],
        years=[movie.year],
        genres=[movie.genres],
        descriptions=[movie.description],
        collections=[movie.collection],
        keywords=[movie.keywords],
    )


@dataclass(frozen=True)
class SimilarMovie:
    movie: MovieDetails
    score: float  # cosine in the ranking model's movie space, shrunk by the movie's votes
    votes: int | None  # users who had rated it when the model was trained (None: not published)


def similar_movies(
    catalogue: MovieCatalogue, cache: CacheStore, movie_id: int, limit: int, prior_votes: int
) -> list[SimilarMovie]:
    """The ``limit`` movies closest to ``movie_id`` in the current model's movie factors, best
    first, retired movies left out: by cosine, shrunk towards 0 for movies few users rated
    (``votes / (votes + prior_votes)``, ``recommender.similarity``). A movie the model does not
    hold (created since the refresh, or retired) is placed by its content with the published
    mapping. Raises ``NotFound`` for an unknown movie; [] when no model is published yet, or
    the model has no movie space (or no content mapping, for a movie it does not hold)."""
    movie = catalogue.get_movie(movie_id)  # NotFound for an unknown movie
    model = cache.serving_model()
    if model is None:
        return []
    content = None if model.columns(np.array([movie_id]))[0] >= 0 else movie_content(movie)
    # A few more than asked, in case some left the catalogue since the model was trained.
    ids, scores = model.similar(movie_id, limit + 10, prior_votes, content)
    votes = model.votes(ids)
    found = catalogue.movies_by_ids(ids.tolist())
    counts = [None] * len(ids) if votes is None else votes.tolist()
    similar = [
        SimilarMovie(found[m], float(score), count)
        for m, score, count in zip(ids.tolist(), scores.tolist(), counts, strict=True)
        if m in found
    ]
    return similar[:limit]


@dataclass(frozen=True)
class MovieStatistics:
    movie_id: int
    votes: int  # users who rated or watched it
    avg_rating: float | None  # None below the lower limit of votes
    source: Literal["cache", "database"]  # published by the last refresh, or counted now


def current_movie_statistics(
    db: Database, cache: CacheStore, movie_id: int, min_votes: int
) -> MovieStatistics:
    """A movie's votes and average: the published statistics (what the top list and implicit
    ratings use); counted by the database now, under the same lower limit, when none are
    published for the movie (before the first refresh, a movie new since then, Redis down)."""
    try:
        stat = cache.movie_stat(movie_id)
    except REDIS_UNAVAILABLE:
        stat = None
    if stat is not None:
        return MovieStatistics(movie_id, stat.votes, stat.avg_rating, "cache")
    with db.session() as session:
        votes, average = movie_votes_and_average(session, movie_id)
    return MovieStatistics(movie_id, votes, average if votes >= min_votes else None, "database")


def movie_statistics(
    catalogue: MovieCatalogue, cache: CacheStore, db: Database, movie_id: int, min_votes: int
) -> MovieStatistics:
    """``current_movie_statistics`` of a movie of the catalogue; ``NotFound`` for another."""
    catalogue.get_movie(movie_id)
    return current_movie_statistics(db, cache, movie_id, min_votes)


@dataclass(frozen=True)
class FoundMovie:
    movie: MovieDetails
    votes: int | None  # as published; None when no statistics are at hand


# What separates the words of a search: blanks, the punctuation of titles, and control
# characters (no title holds one, and PostgreSQL refuses NUL in a pattern). The body of a
# regular-expression character class, the same in Python and in JSON Schema.
TITLE_WORD_SEPARATORS = r"\s\x00-\x1f\x7f,.:;!?()\[\]" + "\"'"  # no escape ECMA-262 "u" refuses
# A query has a word when it has any other character: the OpenAPI document states it as the
# pattern of ``q``, so clients (and schemathesis) know which queries are valid.
HAS_TITLE_WORD = f"[^{TITLE_WORD_SEPARATORS}]"
NO_TITLE_WORD = "give at least one word of the title"


# The English articles MovieLens moves to the end of a title ("Terminator, The"): a title and
# a query are compared without a leading or trailing one.
TITLE_ARTICLES = frozenset({"the", "a", "an"})


def search_words(query: str) -> list[str]:
    """The words a title must all contain (any case, any order: "matrix the" finds
    "The Matrix"); ``InvalidInput`` when there are none."""
    return list(dict.fromkeys(_words(query)))


def _words(text: str) -> list[str]:
    words = [word.casefold() for word in re.split(f"[{TITLE_WORD_SEPARATORS}]+", text) if word]
    if not words:
        raise InvalidInput(f"q: {NO_TITLE_WORD}")
    return words


def _without_articles(words: list[str]) -> list[str]:
    """``words`` without a leading and a trailing article ("the terminator", "terminator the"),
    unless nothing else is left."""
    start = 1 if len(words) > 1 and words[0] in TITLE_ARTICLES else 0
    stop = len(words) - 1 if len(words) - start > 1 and words[-1] in TITLE_ARTICLES else len(words)
    return words[start:stop]


class _QueryMatch:
    """How a title relates to a query: it is the query (0), starts with it (1), or merely holds
    its words (2). Articles do not count, nor a word of the query that is the movie's year
    ("terminator 1984" is "The Terminator" of 1984)."""

    def __init__(self, query: str) -> None:
        self.words = _without_articles(_words(query))

    def kind(self, title: str, year: int | None) -> int:
        wanted = self.words
        if year is not None and str(year) in wanted:
            wanted = [word for word in wanted if word != str(year)] or wanted
        try:
            words = _without_articles(_words(title))
        except InvalidInput:  # a title of punctuation only
            return 2
        if words == wanted:
            return 0
        return 1 if words[: len(wanted)] == wanted else 2


def search_movies(
    catalogue: MovieCatalogue, cache: CacheStore, db: Database, query: str, limit: int
) -> list[FoundMovie]:
    """Up to ``limit`` movies whose title holds every word of ``query`` (a word of four digits
    may be the year instead): the title that is the query first (articles and the year aside:
    "terminator" is "The Terminator"), then titles that start with it, then the others; the
    most voted first within each (published statistics), then by title."""
    words = search_words(query)
    match = _QueryMatch(query)
    with db.session() as session:
        matches = movies_repo.movies_with_title_words(
            session, words, match.words[0], SEARCH_CANDIDATES
        )
    ids = [movie_id for movie_id, _, _ in matches]
    try:
        stats = cache.movie_stats(ids) or {}
    except REDIS_UNAVAILABLE:
        stats = {}

    def order(position: int) -> tuple[int, int, str, int]:
        movie_id, title, year = matches[position]
        stat = stats.get(movie_id)
        return (match.kind(title, year), -(stat.votes if stat else 0), title, movie_id)

    best = [matches[k][0] for k in sorted(range(len(matches)), key=order)[:limit]]
    found = catalogue.movies_by_ids(best)
    return [
        FoundMovie(found[m], stats[m].votes if m in stats else None) for m in best if m in found
    ]
