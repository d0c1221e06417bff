"""Finished JSON answers kept in each process, under the published versions they were made
from.

An answer that is a function of published, never-changing data (a statistics version, a
catalogue version) and of the query alone is the same bytes for every client until a new
version is published: building it again (reading a hundred statistics from Redis, looking up the
movies, validating and writing them) cost GET movies/top about half of its CPU. The
caller reads the current versions (one Redis round trip), and the key holds them, so a new
version is a new key and the old answers simply stop being asked for; the least recently used
answers beyond ``max_answers`` are dropped, so memory stays bounded whatever the queries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class AnswerCache:
    """A thread-safe LRU of answer bodies, keyed by (versions, query)."""

    def __init__(self, max_answers: int = 512) -> None:
        self.max_answers = max_answers
        self._answers: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            body = self._answers.get(key)
            if body is not None:
                self._answers.move_to_end(key)
            return body

    def put(self, key: Hashable, body: str) -> None:
        if self.max_answers <= 0:  # keeps none
            return
        with self._lock:
            self._answers[key] = body
            self._answers.move_to_end(key)
            while len(self._answers) > self.max_answers:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
