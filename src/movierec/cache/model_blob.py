"""The servable model: ``{p}:recs:{version}:model``, the .npz bytes of
``recommender.serving`` published with each version's lists (what the web tier folds new
ratings into), and this process's copy of the current one."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import redis

from movierec.cache.connection import log
from movierec.cache.versions import VersionedPublishing

if TYPE_CHECKING:
    from movierec.recommender.serving import ServingModel

# How often a process looks for a newer servable model (one GET of the current version).
MODEL_CHECK_SECONDS = 1.0


class ModelBlob(VersionedPublishing):
    """The servable model of each "recs" version, loaded once per version by a process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._model: ServingModel | None = None
        self._model_version: str | None = None
        self._model_checked = -float("inf")
        self._model_lock = threading.Lock()

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
        now = time.monotonic()

        def fresh() -> bool:
            if seen_version is not None and seen_version != self._model_version:
                return False
            return now - self._model_checked < MODEL_CHECK_SECONDS

        if fresh():
            return self._model
        with self._model_lock:
            if fresh():
                return self._model
            try:
                version = self.current_version("recs")
            except redis.RedisError as error:  # keep the model this process has, if any
                log.warning("cannot check the published model version: %s", error)
                self._model_checked = now
                return self._model
            if version is None and self._model is not None:
                if self._model_version is not None:
                    log.warning(
                        "no recommendations version in Redis: folding lists in with the last "
                        "model (%s) until one is published", self._model_version,
                    )  # fmt: skip
                    self._model_version = None  # said once; a new version replaces the model
            elif version != self._model_version:
                try:
                    self._model = self._load_model(version)
                    self._model_version = version
                except redis.RedisError as error:  # keep this process's; retried next check
                    log.warning("recommendations %s: cannot read its model: %s", version, error)
            self._model_checked = now
        return self._model

    def _load_model(self, version: str | None) -> ServingModel | None:
        from movierec.recommender.serving import ServingModel, ServingModelError

        blob = self.model_blob(version) if version else None
        if blob is None:
            return None
        try:
            return ServingModel.from_bytes(blob)
        except ServingModelError as error:
            log.error("recommendations %s: cannot load its model: %s", version, error)
            return None
