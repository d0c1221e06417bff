"""The rankers by name: ``RANKERS`` (name -> class), each one's parameter type, which of them
learn from the order of the ratings, ``ranker_params`` (a ranker's full parameters, checked)
and ``build_ranker`` (an unfitted ranker, blended with the rating model when its
``rating_weight`` is above 0). The one module that imports every ranker family; none of them
imports it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from typing import Any

from movierec.recommender.als import ALSParams, ALSRanker
from movierec.recommender.blended import BlendedRanker
from movierec.recommender.ease import EASEParams, EASERanker
from movierec.recommender.popularity import PopularityRanker
from movierec.recommender.puresvd import PureSVDParams, PureSVDRanker
from movierec.recommender.ranking import Ranker, RankerError
from movierec.recommender.rating_ranker import RatingModelRanker
from movierec.recommender.sequential import SequentialParams, SequentialRanker
from movierec.recommender.training import FactorModel

RANKERS: dict[str, type] = {
    cls.name: cls
    for cls in (
        PureSVDRanker, ALSRanker, EASERanker, SequentialRanker, RatingModelRanker,
        PopularityRanker,
    )
}  # fmt: skip


PARAMS_TYPES: dict[str, type] = {
    PureSVDRanker.name: PureSVDParams,
    ALSRanker.name: ALSParams,
    EASERanker.name: EASEParams,
    SequentialRanker.name: SequentialParams,
}

# Rankers that learn from the order of each user's ratings: they are fitted on an interaction
# matrix with the ratings' times, and fold a user in from their ratings oldest first.
TIME_AWARE_RANKERS = frozenset({SequentialRanker.name})


def ranker_params(name: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The full parameter set of ranker ``name``: its defaults updated with ``given`` (unknown
    names are an error, so a typo in a settings file is not silently ignored)."""
    if name not in RANKERS:
        raise RankerError(f"unknown ranker {name!r}: choose one of {', '.join(RANKERS)}")
    kind = PARAMS_TYPES.get(name)
    given = dict(given or {})
    if kind is None:
        return {}
    weight = float(given.pop("rating_weight", 0.0))
    if not 0 <= weight < float("inf"):
        raise RankerError(f"rating_weight must be >= 0, not {weight}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise RankerError(f"ranker {name!r} has no parameter {', '.join(unknown)}")
    try:
        return {**asdict(kind(**given)), "rating_weight": weight}
    except TypeError as error:
        raise RankerError(f"ranker {name!r}: {error}") from None


def build_ranker(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    rating_model: FactorModel | Callable[[], FactorModel] | None = None,
    rating_regularization: float = 0.02,
    min_votes: int = 5,
    threads: int = 0,
) -> Ranker:
    """An unfitted ranker by name. ``rating_model`` (or a function that trains it) is only
    used by ``svd``, which ranks with it, and by a blend (``rating_weight`` > 0);
    ``rating_regularization`` (the SVD's reg_all) folds new users into it; ``min_votes`` is
    only used by ``popular``."""
    full = ranker_params(name, params)
    weight = full.pop("rating_weight", 0.0)
    if name == PopularityRanker.name:
        return PopularityRanker(min_votes)
    if name in (RatingModelRanker.name,) or weight:
        if rating_model is None:
            raise RankerError(f"the {name} ranker (rating_weight {weight}) needs the rating model")
        model = rating_model() if callable(rating_model) else rating_model
        if name == RatingModelRanker.name:
            return RatingModelRanker(model, rating_regularization)
    base: Ranker
    if name == PureSVDRanker.name:
        base = PureSVDRanker(PureSVDParams(**full))
    elif name == ALSRanker.name:
        base = ALSRanker(ALSParams(**full), num_threads=threads)
    elif name == SequentialRanker.name:
        base = SequentialRanker(SequentialParams(**full), num_threads=max(1, threads))
    else:
        base = EASERanker(EASEParams(**full))
    return BlendedRanker(base, model, weight, rating_regularization) if weight else base
