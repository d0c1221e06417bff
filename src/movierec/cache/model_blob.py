"""The servable model: ``{p}:recs:{version}:model``, the .npz bytes of
``recommender.serving`` published with each version's lists (what the web tier folds new
ratings into), and this process's copy of the current one.

With an A/B experiment the version also has ``{p}:recs:{version}:arms``, a HASH: the experiment
itself (``experiment``: JSON, ``services.experiments``) and the model of every arm but the
first (``model:{arm}``; the first arm's is the version's model). A process reads the experiment
with the version's model, and an arm's model the first time one of its users needs it: the
arm of a user and the model they are folded in with come from the refresh that made their
list, never from this process's settings."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from movierec.cache.connection import log
from movierec.cache.versions import VersionedPublishing

if TYPE_CHECKING:
    from movierec.recommender.serving import ServingModel
    from movierec.services.experiments import Experiment

# How often a process looks for a newer servable model (one GET of the current version).
MODEL_CHECK_SECONDS = 1.0
ARMS_SUFFIX = "arms"
EXPERIMENT_FIELD = "experiment"


def arm_model_field(arm: str) -> str:
    return f"model:{arm}"


@dataclass
class PublishedModels:
    """What a process holds of one "recs" version: its model and, with an experiment, the
    experiment and the arms' models read so far."""

    version: str | None
    model: ServingModel | None
    experiment: Experiment | None = None
    arms: dict[str, ServingModel | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_NONE = PublishedModels(None, None)


class ModelBlob(VersionedPublishing):
    """The servable model of each "recs" version, loaded once per version by a process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._published = _NONE
        self._model_checked = -float("inf")
        self._model_lock = threading.Lock()

    @property
    def _model_version(self) -> str | None:
        return self._published.version

    def model_blob(self, version: str) -> bytes | None:
        """The servable model published with recommendations ``version``, or None."""
        return self.binary_client.get(self.key("recs", version, "model"))

    def serving_model(self, seen_version: str | None = None) -> ServingModel | None:
        """The current version's servable model, loaded once per version by this process and
        shared by its threads; a new version is picked up within ``MODEL_CHECK_SECONDS``, or at
        once when the caller has ``seen_version`` (read with a user's list) and this process
        holds another: a list and the model it is judged by must come from one refresh. None
        when none is published (or it cannot be read: logged, and the lists still serve).

        When Redis loses every version (restarted empty, flushed) the process keeps the model
        it holds: it is still the last one published, and with it every user's list is folded
        in from their ratings (personalised at once, with no list to contradict it) until the
        scheduler publishes again, instead of the popular list for a refresh's time."""
        return self.published_models(seen_version).model

    def published_models(self, seen_version: str | None = None) -> PublishedModels:
        """``serving_model``'s version as a whole: its model and experiment (``arm_model``
        gives an arm's)."""
        now = time.monotonic()

        def fresh() -> bool:
            if seen_version is not None and seen_version != self._published.version:
                return False
            return now - self._model_checked < MODEL_CHECK_SECONDS

        if fresh():
            return self._published
        with self._model_lock:
            if fresh():
                return self._published
            try:
                version = self.current_version("recs")
            except redis.RedisError as error:  # keep the model this process has, if any
                log.warning("cannot check the published model version: %s", error)
                self._model_checked = now
                return self._published
            held = self._published
            if version is None and held.model is not None:
                if held.version is not None:
                    log.warning(
                        "no recommendations version in Redis: folding lists in with the last "
                        "model (%s) until one is published", held.version,
                    )  # fmt: skip
                    # Said once; a new version replaces the model (and the experiment's arms).
                    self._published = PublishedModels(None, held.model, held.experiment, held.arms)
            elif version != held.version:
                try:
                    self._published = PublishedModels(
                        version, self._load_model(version), self._load_experiment(version)
                    )
                except redis.RedisError as error:  # keep this process's; retried next check
                    log.warning("recommendations %s: cannot read its model: %s", version, error)
            self._model_checked = now
        return self._published

    def arm_model(self, published: PublishedModels, arm: str) -> ServingModel | None:
        """The servable model of an experiment's arm in ``published`` (read once per version
        and arm); the version's model when the arm's cannot be read (logged)."""
        experiment = published.experiment
        if experiment is None or arm == experiment.arms[0].name:
            return published.model
        if arm in published.arms:
            return published.arms[arm] or published.model
        with published.lock:
            if arm not in published.arms:
                try:
                    blob = self.binary_client.hget(
                        self.key("recs", published.version, ARMS_SUFFIX), arm_model_field(arm)
                    )
                    published.arms[arm] = self._from_blob(published.version, blob)
                except redis.RedisError as error:  # the version's model until it can be read
                    log.warning("recommendations %s: cannot read arm %s's model: %s",
                                published.version, arm, error)  # fmt: skip
                    return published.model
        return published.arms[arm] or published.model

    def _load_experiment(self, version: str | None) -> Experiment | None:
        from movierec.services.experiments import Experiment, ExperimentError

        if version is None:
            return None
        document = self.binary_client.hget(self.key("recs", version, ARMS_SUFFIX), EXPERIMENT_FIELD)
        if document is None:
            return None
        try:
            return Experiment.from_dict(json.loads(document))
        except (ValueError, ExperimentError) as error:
            log.error("recommendations %s: cannot read its experiment: %s", version, error)
            return None

    def _load_model(self, version: str | None) -> ServingModel | None:
        return self._from_blob(version, self.model_blob(version) if version else None)

    def _from_blob(self, version: str | None, blob: bytes | None) -> ServingModel | None:
        from movierec.recommender.serving import ServingModel, ServingModelError

        if blob is None:
            return None
        try:
            return ServingModel.from_bytes(blob)
        except ServingModelError as error:
            log.error("recommendations %s: cannot load its model: %s", version, error)
            return None
