"""Where the benchmarks find the data sets: MOVIEREC_SHARED_DATA, as for the tests, else
``../shared/data`` beside the repository (the data is never committed into it)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MOVIEREC_SHARED_DATA", REPO.parent / "shared" / "data"))
ML_SMALL = SHARED_DATA / "ml-latest-small"
