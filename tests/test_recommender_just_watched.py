"""The reasons "because you just watched" (``recommender.just_watched``): which recommended
movies come mainly from the sequential ranker's transition part, and which latest rating each
follows; the refresh's answer for every list and the read path's for one user, from the
published model, alike to the last bit; and both equal to the definition in plain Python."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.recommender.data import InteractionMatrix, RatingArrays
from movierec.recommender.just_watched import JustWatched, UserFollowers
from movierec.recommender.ranker_registry import build_ranker
from movierec.recommender.sequential import SequentialParams, SequentialRanker
from movierec.recommender.serving import ServingModel
from movierec.recommender.training import FactorModel
from movierec.recommender.transitions import user_sequences


def _ratings(sequences: dict[int, list[int]], random_stars: bool = False) -> RatingArrays:
    """Each user's movies rated one second apart, in the order given; 4 stars each, or random
    half stars from 2.5 to 5."""
    rng = np.random.default_rng(5)
    users, movies, times = [], [], []
    for user, seen in sequences.items():
        for position, movie in enumerate(seen):
            users.append(user)
            movies.append(movie)
            times.append(1_000_000 + position)
    stars = (
        rng.choice(np.arange(5, 11) / 2, len(users)) if random_stars else np.full(len(users), 4.0)
    )
    return RatingArrays(
        np.array(users, np.int64), np.array(movies, np.int64), stars, np.array(times, np.int64)
    )


# A is 10, always followed by B, 11 (then 12); C is 20, followed by D, 21 (then 22). Everyone
# rated a few of the background movies 30..49 before, so PureSVD has tastes to learn.
A, B, C, D = 10, 11, 20, 21


def _sequences(seed: int = 3) -> dict[int, list[int]]:
    rng = np.random.default_rng(seed)
    sequences = {}
    for user in range(40):
        background = rng.choice(np.arange(30, 50), size=6, replace=False).tolist()
        sequences[user] = background + ([A, B, 12] if user < 20 else [C, D, 22])
    return sequences


def _fitted(
    sequences: dict[int, list[int]], random_stars: bool = False, **params: object
) -> tuple[SequentialRanker, InteractionMatrix]:
    interactions = InteractionMatrix.from_ratings(_ratings(sequences, random_stars))
    # The mechanics below were laid out for a 1:1 blend of PureSVD and the transitions.
    params = {"n_factors": 4, "transition_weight": 1.0, **params}
    ranker = SequentialRanker(SequentialParams(**params))  # type: ignore[arg-type]
    return ranker.fit(interactions), interactions


def _history(interactions: InteractionMatrix, row: int) -> tuple[np.ndarray, np.ndarray]:
    """A user row's rated movie ids oldest first and their stars, as the read path gets them."""
    matrix = interactions.matrix
    sequence = user_sequences(matrix.indptr, matrix.indices, interactions.times)
    columns = sequence[matrix.indptr[row] : matrix.indptr[row + 1]]
    stars = np.asarray(matrix[row, columns].todense()).ravel().astype(np.float64)
    return interactions.item_ids[columns], stars


def _published(ranker: object, item_ids: np.ndarray) -> ServingModel:
    """The model the web tier reads back from what the refresh publishes."""
    n = len(item_ids)
    rating = FactorModel(
        3.5, np.empty(0, np.int64), item_ids, np.empty(0), np.zeros(n), np.empty((0, 2)),
        np.zeros((n, 2)),
    )  # fmt: skip
    return ServingModel.from_bytes(ServingModel.of(ranker, rating, 0.02, 0.0).to_bytes())  # type: ignore[arg-type]


def _refresh_followed(
    ranker: object, interactions: InteractionMatrix, rows: list[int], lists: list[np.ndarray]
) -> list[dict[int, int]]:
    followers = UserFollowers.of(ranker, interactions.matrix, np.arange(interactions.n_items))
    assert followers is not None
    found = followers.followed(interactions.item_ids, np.array(rows), lists)
    return [
        {int(m): int(s) for m, s in zip(movies, follows, strict=True) if s >= 0}
        for movies, follows in zip(lists, found, strict=True)
    ]


def test_a_movie_people_rate_after_the_users_latest_one_is_explained_by_it() -> None:
    sequences = _sequences()
    sequences[100] = [30, 31, 32, 33, A]  # just watched A
    ranker, interactions = _fitted(sequences)
    row = int(interactions.user_positions(np.array([100]))[0])
    rated, stars = _history(interactions, row)
    unrated = np.setdiff1d(interactions.item_ids, rated)
    scores = ranker.fold_in(interactions.item_positions(rated), stars)
    ranked = interactions.item_ids[np.argsort(-scores, kind="stable")]
    top = np.array([m for m in ranked if m in set(unrated.tolist())][:8])
    assert top[0] == B
    followed = _refresh_followed(ranker, interactions, [row], [top])[0]
    assert followed[B] == A
    # What comes from PureSVD's part (a background movie the user's tastes pick) keeps the
    # liked movies as its reason.
    liked_ones = [m for m in top if m not in followed]
    assert liked_ones and all(30 <= m < 50 for m in liked_ones)
    # The read path, from the published model and the ratings oldest first, says the same.
    model = _published(ranker, interactions.item_ids)
    assert model.followed(rated, stars, top) == followed


def test_the_latest_rating_wins_and_equal_contributions_go_to_the_smaller_id() -> None:
    sequences = _sequences()
    sequences[100] = [30, 31, A, C]  # C after A: both are followed, D by the heavier weight
    ranker, interactions = _fitted(sequences)
    model = _published(ranker, interactions.item_ids)
    row = int(interactions.user_positions(np.array([100]))[0])
    rated, stars = _history(interactions, row)
    assert model.followed(rated, stars, np.array([B, D])) == {B: A, D: C}
    # One movie followed alike by two of the latest ratings, at equal weights (no decay):
    # 12 follows both A and B (each rated by the same twenty people); A, the smaller id, wins.
    flat, flat_interactions = _fitted(sequences | {100: [30, 31, A, B]}, recent_decay=1.0)
    flat_model = _published(flat, flat_interactions.item_ids)
    rows = flat_interactions.item_positions(np.array([A, B]))
    twelve = int(flat_interactions.item_positions(np.array([12]))[0])
    shares = [flat.transitions[r, twelve] for r in rows]
    assert shares[0] == shares[1] > 0
    flat_row = int(flat_interactions.user_positions(np.array([100]))[0])
    rated, stars = _history(flat_interactions, flat_row)
    assert flat_model.followed(rated, stars, np.array([12])) == {12: A}


def test_other_rankers_and_users_without_ratings_get_no_such_reason() -> None:
    ranker, interactions = _fitted(_sequences())
    puresvd = build_ranker("puresvd", {"n_factors": 4}).fit(interactions)
    assert JustWatched.of(puresvd) is None
    assert UserFollowers.of(puresvd, interactions.matrix, np.arange(interactions.n_items)) is None
    assert (
        _published(puresvd, interactions.item_ids).followed(
            np.array([A]), np.array([4.0]), np.array([B])
        )
        == {}
    )
    model = _published(ranker, interactions.item_ids)
    assert model.followed(np.array([], np.int64), np.array([]), np.array([B])) == {}
    assert model.followed(np.array([A]), np.array([4.0]), np.array([], np.int64)) == {}
    # A user the refresh does not hold (-1), a movie it does not serve: nothing, no error.
    assert _refresh_followed(ranker, interactions, [-1], [np.array([B])]) == [{}]
    assert model.followed(np.array([A]), np.array([4.0]), np.array([999])) == {}


def _by_definition(
    ranker: SequentialRanker, columns: np.ndarray, stars: np.ndarray, listed: np.ndarray
) -> dict[int, int]:
    """The module docstring's definition in plain Python floats, summed in the same orders
    (so the same bits), scoring every movie for the maximum: listed column -> the column it
    follows."""
    just_watched = JustWatched.of(ranker)
    assert just_watched is not None
    factors, scale, table = just_watched.factors, just_watched.column_scale, ranker.transitions
    known = columns >= 0
    profile = [0.0] * factors.shape[1]
    rated = sorted(zip(columns[known].tolist(), stars[known].tolist(), strict=True))
    for column, star in rated:
        weight = float(scale[column]) * (1.0 if just_watched.binary else float(np.float32(star)))
        for f in range(len(profile)):
            profile[f] += weight * float(factors[column, f])
    p = [float(np.float32(x)) for x in profile]

    def svd(j: int) -> float:
        total = 0.0
        for f in range(len(p)):
            total += p[f] * float(factors[j, f])
        return total

    largest = max(abs(svd(j)) for j in range(len(factors))) or 1.0
    # The latest ``recent`` ratings, the latest at weight 1, each older one ``decay`` times
    # the next (float32 products); a movie not served counts in the order, then is left out.
    decay, weight, sources = np.float32(ranker.config.recent_decay), np.float32(1.0), []
    for since, column in enumerate(reversed(columns.tolist())):
        if since == ranker.config.recent:
            break
        if column >= 0:
            sources.append((float(weight), int(column)))
        weight = np.float32(weight * decay)
    sources.sort(key=lambda source: (-source[0], source[1]))
    shares: dict[int, float] = {}
    best: dict[int, tuple[float, int]] = {}
    for weight, source in sources:
        row = table[source]
        for j, share in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            contribution = weight * share
            shares[j] = shares.get(j, 0.0) + contribution
            if j not in best or (-contribution, source) < (-best[j][0], best[j][1]):
                best[j] = (contribution, source)
    most = max(shares.values(), default=0.0)
    weight = ranker.config.transition_weight
    return {
        int(j): best[j][1]
        for j in listed.tolist()
        if shares.get(j, 0.0) > 0 and weight * shares[j] / most > svd(j) / largest
    }


@pytest.mark.parametrize(
    "params", [{}, {"recent": 3, "recent_decay": 0.5}, {"transition_weight": 0.3},
               {"weighting": "binary", "recent_decay": 1.0}],
)  # fmt: skip
def test_both_paths_decide_every_movie_as_the_definition_does(params: dict) -> None:  # type: ignore[type-arg]
    # Random tastes and orders, half stars: each user's whole catalogue is asked about (the
    # rated movies too), by the refresh for all users at once and by the read path one by one.
    rng = np.random.default_rng(17)
    sequences = {
        user: rng.choice(np.arange(10, 60), size=int(rng.integers(3, 25)), replace=False).tolist()
        for user in range(60)
    }
    # Blended with the stars, as served by default: the reasons look at the sequential part.
    interactions = InteractionMatrix.from_ratings(_ratings(sequences, random_stars=True))
    blended = build_ranker(
        "sequential", {"n_factors": 4, **params, "rating_weight": 0.1},
        rating_model=_rating(interactions.item_ids),
    ).fit(interactions)  # fmt: skip
    ranker = blended.base  # type: ignore[attr-defined]
    model = _published(blended, interactions.item_ids)
    ids = interactions.item_ids
    rows = list(range(interactions.n_users))
    refresh = _refresh_followed(blended, interactions, rows, [ids] * len(rows))
    decided = 0
    for row in rows:
        rated, stars = _history(interactions, row)
        columns = interactions.item_positions(rated)
        expected = _by_definition(ranker, columns, stars, np.arange(len(ids)))
        expected_ids = {int(ids[j]): int(ids[s]) for j, s in expected.items()}
        assert refresh[row] == expected_ids, row
        assert model.followed(rated, stars, ids) == expected_ids, row
        decided += len(expected_ids)
    assert decided > 0


def _rating(item_ids: np.ndarray) -> FactorModel:
    n = len(item_ids)
    return FactorModel(
        3.5, np.empty(0, np.int64), item_ids, np.empty(0), np.linspace(-0.2, 0.2, n),
        np.empty((0, 2)), np.zeros((n, 2)),
    )  # fmt: skip


def test_placed_and_retired_movies_are_seen_alike_by_both_paths() -> None:
    # As the refresh serves them: a retired movie (33) leaves the model but keeps its place in
    # the users' order, a new one (99) joins with a vector of its own; the refresh's profiles
    # come from the ratings of the served movies, as the web tier's fold-in does.
    sequences = _sequences()
    sequences[100] = [30, 31, 32, A, 33]
    ranker, interactions = _fitted(sequences)
    served = np.r_[np.setdiff1d(interactions.item_ids, [33]), 99]
    vectors = ranker.item_vectors().copy()
    placed = np.vstack([vectors[interactions.item_positions(served[:-1])], vectors[:1] * 0.5])
    ranker.place_items(served, placed)
    moved = interactions.item_positions(served)  # served column of each fitted one, -1: gone
    fitted_to_served = np.full(interactions.n_items, -1)
    fitted_to_served[moved[moved >= 0]] = np.flatnonzero(moved >= 0)
    followers = UserFollowers.of(ranker, interactions.matrix, fitted_to_served)
    assert followers is not None
    model = _published(ranker, served)
    rows = np.arange(interactions.n_users)
    found = followers.followed(served, rows, [served] * len(rows))
    for row in rows:
        rated, stars = _history(interactions, int(row))
        expected = {int(m): int(s) for m, s in zip(served, found[row], strict=True) if s >= 0}
        assert model.followed(rated, stars, served) == expected
    user = int(interactions.user_positions(np.array([100]))[0])
    assert dict(zip(served.tolist(), found[user].tolist(), strict=True))[B] == A  # 33 left


def test_profiles_are_the_same_bits_however_the_ratings_come() -> None:
    # The refresh sums a CSR row (int32 columns, mapped to the served ones), the read path the
    # ratings in the order they were made: both sum in column order, in float64.
    ranker, interactions = _fitted(_sequences(), random_stars=True)
    just_watched = JustWatched.of(ranker)
    assert just_watched is not None
    matrix = interactions.matrix
    identity = np.arange(interactions.n_items)
    refresh = just_watched.profiles(matrix.indptr, matrix.indices, matrix.data, identity)
    rng = np.random.default_rng(2)
    for row in range(interactions.n_users):
        rated, stars = _history(interactions, row)
        shuffled = rng.permutation(len(rated))
        columns = interactions.item_positions(rated[shuffled])
        order = np.argsort(columns)
        one = just_watched.profiles(
            np.array([0, len(rated)]), columns[order], stars[shuffled][order]
        )
        assert np.array_equal(one[0], refresh[row])
    # Close to PureSVD's own user factors (the ranker's float32 product).
    np.testing.assert_allclose(refresh, ranker.base.user_factors, rtol=1e-4, atol=1e-5)
