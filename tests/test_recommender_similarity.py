"""Similar movies weighed by support (``recommender.similarity``): a movie whose vector rests on
one rating does not outrank well-rated ones on a slightly larger cosine, lists never run short
for it, and the counts travel with the published model (and an older blob without them still
serves plain cosines)."""

from __future__ import annotations

import numpy as np
import pytest

from movierec.recommender.puresvd import PureSVDParams, PureSVDRanker
from movierec.recommender.serving import ServingModel
from movierec.recommender.similarity import nearest_movies, support_weights
from movierec.recommender.training import FactorModel

IDS = np.array([10, 20, 30, 40, 50], dtype=np.int64)
# Movie 10 is the seed; 20 is nearly the same direction but rated once; 30 and 40 are a little
# further but rated by many; 50 points away.
VECTORS = np.array(
    [[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [-1.0, 0.0, 0.0]]
)
VOTES = np.array([300, 1, 150, 400, 80])


def _serving_model(votes: np.ndarray | None) -> ServingModel:
    """A served PureSVD model over ``VECTORS`` (its movie factors), as the refresh builds it."""
    rating = FactorModel(
        global_mean=3.5, user_ids=np.empty(0, dtype=np.int64), item_ids=IDS,
        user_bias=np.empty(0), item_bias=np.zeros(len(IDS)), user_factors=np.empty((0, 2)),
        item_factors=np.zeros((len(IDS), 2)),
    )  # fmt: skip
    ranker = PureSVDRanker(PureSVDParams(n_factors=3))
    ranker.item_factors = VECTORS.astype(np.float32)
    ranker._column_scale = np.ones(len(IDS), dtype=np.float32)
    ranker.item_ids, ranker.user_ids = IDS, np.empty(0, dtype=np.int64)
    return ServingModel.of(ranker, rating, 0.02, 0.0, item_votes=votes)


def test_support_weights_are_the_reliability_of_a_mean_of_n_votes() -> None:
    weights = support_weights(np.array([0, 1, 5, 95]), 5)
    assert weights == pytest.approx([0.0, 1 / 6, 0.5, 0.95])
    assert support_weights(np.array([0, 3]), 0).tolist() == [1.0, 1.0]


def test_a_one_vote_movie_no_longer_outranks_well_rated_ones() -> None:
    model = _serving_model(VOTES)
    plain, cosines = model.similar(10, 4)
    assert plain.tolist() == [20, 30, 40, 50]  # the one-vote movie first on its cosine
    shrunk, scores = model.similar(10, 4, prior_votes=5)
    assert shrunk.tolist() == [30, 40, 20, 50]
    # The score is the cosine times votes / (votes + prior).
    expected = {20: 0.99 / np.hypot(0.99, 0.14) / 6, 30: 0.8 * 150 / 155, 40: 0.6 * 400 / 405}
    assert scores[:3] == pytest.approx([expected[m] for m in (30, 40, 20)], rel=1e-6)
    assert list(scores) == sorted(scores, reverse=True)


def test_rare_movies_still_fill_the_list_when_nothing_better_supported_is_left() -> None:
    model = _serving_model(np.array([300, 1, 1, 2, 1]))
    ids, _ = model.similar(10, 10, prior_votes=5)
    assert sorted(ids.tolist()) == [20, 30, 40, 50]  # every other movie, none dropped
    assert 10 not in ids.tolist()


def test_the_counts_travel_with_the_published_model_as_int32() -> None:
    blob = _serving_model(VOTES).to_bytes()
    served = ServingModel.from_bytes(blob)
    assert served.item_votes is not None and served.item_votes.dtype == np.int32
    assert served.item_votes.tolist() == VOTES.tolist()
    votes = served.votes(np.array([40, 20, 999]))
    assert votes is not None and votes.tolist() == [400, 1, -1]
    assert served.similar(10, 4, 5)[0].tolist() == [30, 40, 20, 50]


def test_a_blob_published_without_counts_serves_plain_cosines() -> None:
    served = ServingModel.from_bytes(_serving_model(None).to_bytes())
    assert served.item_votes is None and served.votes(IDS) is None
    assert served.similar(10, 4, prior_votes=5)[0].tolist() == [20, 30, 40, 50]


def test_nearest_movies_leaves_out_the_seed_and_zero_vectors_order_ties_by_column() -> None:
    unit = np.array([[1, 0], [0, 1], [0, 1], [0, 0], [1, 0]], dtype=np.float32)
    columns, scores = nearest_movies(unit, 0, 10)
    assert columns.tolist() == [4, 1, 2, 3] and scores.tolist() == [1.0, 0.0, 0.0, 0.0]
    weighted, _ = nearest_movies(unit, 1, 2, weights=np.array([1, 1, 0.5, 1, 1]))
    assert weighted.tolist() == [2, 0]
