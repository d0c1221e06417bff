"""Online metrics of the lists people were shown, with confidence intervals, and the comparison of
an experiment's arms: plain functions over per-user arrays (no SQL, no web).

Every rate is a ratio of sums over the arm's users (clicks per impression, liked slots per slot
shown...), and a user's impressions are not independent of each other (the same person, the
same tastes), so the intervals resample *users*, not impressions: a Poisson bootstrap (each user
weighted by a Poisson(1) draw per replicate: the usual bootstrap for large online experiments,
Chamandy et al. 2012, and independent across users so that arms resample independently). The
difference between two arms is significant at the confidence level when the interval of the
difference excludes 0; the share of users who liked something also gets the classic
two-proportion z-test. Both are reported; "not significant" is said as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000
# Replicates drawn at once: a (chunk x users) block of weights.
_CHUNK_CELLS = 4_000_000

# name -> (numerator, denominator, what it is). ``users`` is 1 per user, ``liked_users`` 1 per
# user with at least one liked slot.
RATES: dict[str, tuple[str, str, str]] = {
    "click_through": ("clicks", "impressions", "clicked movies per answer shown"),
    "liked_per_user": ("liked_users", "users", "share of users shown lists who liked one"),
    "liked_per_slot": ("liked", "slots", "liked movies per movie shown"),
    "disliked_per_slot": ("disliked", "slots", "movies rated below 4 per movie shown"),
    "dismissed_per_slot": ("dismissed", "slots", "dismissed movies per movie shown"),
}
# What an arm is judged by first (the experiment's headline).
PRIMARY_RATE = "liked_per_user"


@dataclass(frozen=True)
class ArmCounts:
    """An arm's totals per user over the report's window (the same user order in each)."""

    experiment: str | None
    arm: str
    ranker: str
    impressions: np.ndarray
    slots: np.ndarray
    clicks: np.ndarray  # distinct (impression, movie) clicked
    liked: np.ndarray  # distinct (impression, movie) rated >= 4 or watched
    disliked: np.ndarray  # rated < 4
    dismissed: np.ndarray
    movies_shown: int  # distinct movies the arm's answers showed

    @property
    def users(self) -> int:
        return len(self.impressions)

    def column(self, name: str) -> np.ndarray:
        if name == "users":
            return np.ones(self.users)
        if name == "liked_users":
            return (self.liked > 0).astype(float)
        return np.asarray(getattr(self, name), dtype=float)


@dataclass(frozen=True)
class Estimate:
    value: float | None  # None: nothing to divide by
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ArmSummary:
    counts: ArmCounts
    rates: dict[str, Estimate]
    coverage: float | None  # distinct movies shown / movies in the catalogue
    # Bootstrap replicates of each rate (for comparisons); NaN where undefined.
    replicates: dict[str, np.ndarray]


@dataclass(frozen=True)
class Comparison:
    metric: str
    arm: str
    baseline: str
    difference: float | None  # arm - baseline
    low: float | None
    high: float | None
    p_value: float | None  # two-proportion z-test (per-user shares only)
    significant: bool

    @property
    def verdict(self) -> str:
        if self.difference is None or self.low is None or self.high is None:
            return "no data to compare"
        interval = f"{CONFIDENCE:.0%} interval {_signed(self.low)} to {_signed(self.high)}"
        if not self.significant:
            return f"not significant ({interval} includes 0)"
        ahead = "ahead of" if self.difference > 0 else "behind"
        return f"{self.arm} {ahead} {self.baseline} by {_signed(self.difference)} ({interval})"


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def poisson_weights(rng: np.random.Generator, replicates: int, users: int) -> np.ndarray:
    return rng.poisson(1.0, size=(replicates, users)).astype(np.float64)


def bootstrap_ratios(
    numerators: dict[str, np.ndarray],
    denominators: dict[str, np.ndarray],
    rng: np.random.Generator,
    resamples: int,
) -> dict[str, np.ndarray]:
    """Per rate, ``resamples`` replicates of sum(w * num) / sum(w * den), with the same user
    weights w for every rate of a replicate (so rates of one arm stay consistent)."""
    users = len(next(iter(numerators.values()))) if numerators else 0
    result = {name: np.full(resamples, np.nan) for name in numerators}
    if users == 0:
        return result
    chunk = max(1, min(resamples, _CHUNK_CELLS // users))
    for first in range(0, resamples, chunk):
        stop = min(resamples, first + chunk)
        weights = poisson_weights(rng, stop - first, users)
        for name, numerator in numerators.items():
            top = weights @ numerator
            bottom = weights @ denominators[name]
            with np.errstate(invalid="ignore", divide="ignore"):
                result[name][first:stop] = np.where(bottom > 0, top / bottom, np.nan)
    return result


def _interval(replicates: np.ndarray) -> tuple[float | None, float | None]:
    finite = replicates[np.isfinite(replicates)]
    if len(finite) == 0:
        return None, None
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def summarise(
    counts: ArmCounts,
    catalogue_size: int,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> ArmSummary:
    """An arm's rates with their bootstrap intervals, and its coverage."""
    numerators = {name: counts.column(top) for name, (top, _, _) in RATES.items()}
    denominators = {name: counts.column(bottom) for name, (_, bottom, _) in RATES.items()}
    rng = np.random.default_rng([seed, _stable(counts.arm)])
    replicates = bootstrap_ratios(numerators, denominators, rng, resamples)
    rates = {}
    for name in RATES:
        total = denominators[name].sum()
        value = float(numerators[name].sum() / total) if total > 0 else None
        low, high = _interval(replicates[name]) if value is not None else (None, None)
        rates[name] = Estimate(value, low, high)
    coverage = counts.movies_shown / catalogue_size if catalogue_size else None
    return ArmSummary(counts, rates, coverage, replicates)


def _stable(text: str) -> int:
    """A seed from a name, the same in every process (``hash`` of a str is not)."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")


def two_proportion_p_value(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float | None:
    """Two-sided p-value of the z-test that two shares are equal (pooled variance)."""
    if n_a == 0 or n_b == 0:
        return None
    pooled = (hits_a + hits_b) / (n_a + n_b)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread == 0:
        return 1.0
    z = (hits_a / n_a - hits_b / n_b) / spread
    return math.erfc(abs(z) / math.sqrt(2))


def compare(arm: ArmSummary, baseline: ArmSummary) -> list[Comparison]:
    """Every rate of ``arm`` against ``baseline``'s: the difference, its interval (independent
    bootstrap replicates of the two arms' users) and whether it is significant."""
    comparisons = []
    for name in RATES:
        value, base = arm.rates[name].value, baseline.rates[name].value
        p_value = None
        if name == PRIMARY_RATE:
            p_value = two_proportion_p_value(
                int((arm.counts.liked > 0).sum()),
                arm.counts.users,
                int((baseline.counts.liked > 0).sum()),
                baseline.counts.users,
            )
        if value is None or base is None:
            comparisons.append(
                Comparison(name, arm.counts.arm, baseline.counts.arm, None, None, None, None, False)
            )
            continue
        low, high = _interval(arm.replicates[name] - baseline.replicates[name])
        significant = low is not None and high is not None and (low > 0 or high < 0)
        comparisons.append(
            Comparison(
                name,
                arm.counts.arm,
                baseline.counts.arm,
                value - base,
                low,
                high,
                p_value,
                significant,
            )  # fmt: skip
        )
    return comparisons
