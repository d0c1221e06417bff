"""Similar movies: the movies nearest to one movie in the ranker's movie space, each closeness
weighed by how much evidence the candidate's vector rests on.

A movie's vector is learnt from the users who rated it. With one rating it is that one user's
taste, not the movie's: its cosine to anything that user liked is large and means nothing
(on ml-latest-small, one-vote films held a fifth of the top-10 slots of the 500 most-rated
movies). So the cosine of a candidate rated by ``n`` users is shrunk towards zero:

    score = cosine * n / (n + prior_votes)

the reliability of a mean of ``n`` observations when the prior (no similarity) is worth
``prior_votes`` observations: the number of votes at which a movie's own evidence and the
prior weigh the same. The service already names that number: below STAT_MOVIE_USERS_LOWER_LIMIT
votes a movie's average is not shown, so the same limit is the prior here (a movie at the limit
counts half). The weight is continuous: a film with few votes and a very close vector still
comes up when nothing better supported does, so no list runs short. Measured on held-out
ratings of ml-latest-small and three variants (benchmarks/similar.py), the limit's default of 5
is within a few per cent of the best prior on every variant while no shrinkage is the worst.
"""

from __future__ import annotations

import numpy as np

from movierec.recommender.scoring import top_k_columns


def support_weights(votes: np.ndarray, prior_votes: float) -> np.ndarray:
    """``n / (n + prior_votes)`` for each movie's number of votes ``n`` (float64; 1 for every
    movie when ``prior_votes`` is 0, 0 for a movie nobody rated)."""
    n = np.asarray(votes, dtype=np.float64)
    if prior_votes <= 0:
        return np.ones_like(n)
    return n / (n + float(prior_votes))


def nearest_movies(
    unit_vectors: np.ndarray, column: int, n: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The columns of the ``n`` movies closest to movie ``column`` by cosine (the rows of
    ``unit_vectors`` have length 1 or 0), each cosine times its movie's weight when ``weights``
    are given; best first, equal scores by column, the movie itself left out. Returns the
    columns and their scores."""
    return nearest_to(unit_vectors, unit_vectors[column], n, weights, column)


def nearest_to(
    unit_vectors: np.ndarray,
    vector: np.ndarray,
    n: int,
    weights: np.ndarray | None = None,
    leave_out: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``nearest_movies`` of any unit ``vector`` (a movie placed by its content, which the
    model does not hold), column ``leave_out`` left out."""
    scores = (unit_vectors @ vector).astype(np.float64)
    if weights is not None:
        scores *= weights
    if leave_out is not None:
        scores[leave_out] = -np.inf
    picked = top_k_columns(scores[None, :], n)[0]
    picked = picked[np.isfinite(scores[picked])]
    return picked, scores[picked]
