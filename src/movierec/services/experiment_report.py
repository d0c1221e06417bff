"""The online report: per experiment arm (per ranker without an experiment) and per day, what
the lists showed and what users did with it, with confidence intervals and the comparison of an
experiment's arms (``movierec experiment report``, ``GET /api/v1/admin/experiment``, the
operator page).

It reads what the drain has written (``jobs.impressions``): aggregates per user and day from the
database (``db.repositories.impressions``), the statistics from ``recommender.online_metrics``.
An outcome counts for the day of the impression it is attributed to, so a day's figures grow
for IMPRESSIONS_OUTCOME_WINDOW_DAYS after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from movierec.db import Database
from movierec.db.repositories import impressions as repo
from movierec.recommender.online_metrics import (
    CONFIDENCE,
    PRIMARY_RATE,
    RATES,
    RESAMPLES,
    ArmCounts,
    ArmSummary,
    Comparison,
    compare,
    summarise,
)
from movierec.services.experiments import Experiment

KEYS = ["experiment", "arm", "ranker"]
COUNTED = ["clicks", "liked", "disliked", "dismissed"]
# Outcome classes of the database -> the counts' names.
_CLASS_TO_COUNT = {
    repo.CLICKED: "clicks",
    repo.LIKED: "liked",
    repo.DISLIKED: "disliked",
    repo.DISMISSED: "dismissed",
}


@dataclass(frozen=True)
class ExperimentReport:
    days: int
    first_day: date
    last_day: date
    catalogue_size: int
    arms: list[ArmSummary]
    comparisons: dict[tuple[str, str], list[Comparison]]  # (experiment, arm) -> vs its baseline
    by_source: pd.DataFrame  # experiment, arm, ranker, source, users, impressions, slots, ...
    daily: pd.DataFrame  # experiment, arm, ranker, day, users, impressions, ..., coverage
    resamples: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON document (``--json``, the admin endpoint)."""
        arms = []
        for summary in self.arms:
            counts = summary.counts
            key = (counts.experiment, counts.arm)
            sources = self.by_source[
                (self.by_source["experiment"].fillna("") == (counts.experiment or ""))
                & (self.by_source["arm"] == counts.arm)
                & (self.by_source["ranker"] == counts.ranker)
            ]
            arms.append(
                {
                    "experiment": counts.experiment,
                    "arm": counts.arm,
                    "ranker": counts.ranker,
                    "users": counts.users,
                    "impressions": int(counts.impressions.sum()),
                    "slots": int(counts.slots.sum()),
                    "clicks": int(counts.clicks.sum()),
                    "liked_after_shown": int(counts.liked.sum()),
                    "disliked_after_shown": int(counts.disliked.sum()),
                    "dismissed_after_shown": int(counts.dismissed.sum()),
                    "users_who_liked": int((counts.liked > 0).sum()),
                    "movies_shown": counts.movies_shown,
                    "coverage": summary.coverage,
                    "rates": {name: e.as_dict() for name, e in summary.rates.items()},
                    "by_source": _records(sources.drop(columns=KEYS)),
                    "comparison": [
                        {
                            "metric": c.metric,
                            "baseline": c.baseline,
                            "difference": c.difference,
                            "low": c.low,
                            "high": c.high,
                            "p_value": c.p_value,
                            "significant": c.significant,
                            "verdict": c.verdict,
                        }
                        for c in self.comparisons.get(key, [])
                    ],
                }
            )
        daily = self.daily.assign(day=self.daily["day"].map(_day_text))
        return {
            "days": self.days,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat(),
            "catalogue_size": self.catalogue_size,
            "confidence": CONFIDENCE,
            "resamples": self.resamples,
            "rates": {name: what for name, (_, _, what) in RATES.items()},
            "primary_rate": PRIMARY_RATE,
            "arms": arms,
            "daily": _records(daily),
        }

    def table(self) -> str:
        """The arms as a text table, then each comparison in a sentence."""
        if not self.arms:
            return (
                f"no impressions recorded from {self.first_day} to {self.last_day} (UTC): "
                "nobody asked for recommendations, or IMPRESSIONS=off"
            )
        header = (
            f"{'experiment':<11} {'arm':<10} {'ranker':<8} {'users':>6} {'impr.':>7} "
            f"{'slots':>7} {'clicks':>6} {'liked':>6} {'CTR':>15} {'liked/user':>17} "
            f"{'liked/slot':>17} {'dismissed/slot':>17} {'coverage':>8}"
        )
        lines = [
            f"online metrics {self.first_day} to {self.last_day} (UTC), {CONFIDENCE:.0%} "
            f"intervals from {self.resamples} bootstrap resamples of users",
            header,
        ]
        for summary in self.arms:
            c = summary.counts
            lines.append(
                f"{c.experiment or '-':<11} {c.arm:<10} {c.ranker:<8} {c.users:>6,} "
                f"{int(c.impressions.sum()):>7,} {int(c.slots.sum()):>7,} "
                f"{int(c.clicks.sum()):>6,} {int(c.liked.sum()):>6,} "
                f"{_estimate(summary, 'click_through'):>15} "
                f"{_estimate(summary, 'liked_per_user'):>17} "
                f"{_estimate(summary, 'liked_per_slot'):>17} "
                f"{_estimate(summary, 'dismissed_per_slot'):>17} "
                f"{_percent(summary.coverage):>8}"
            )
        for (experiment, _arm), comparisons in self.comparisons.items():
            for comparison in comparisons:
                if comparison.metric in (PRIMARY_RATE, "liked_per_slot", "click_through"):
                    p_value = (
                        "" if comparison.p_value is None else f", p = {comparison.p_value:.3g}"
                    )
                    lines.append(
                        f"{experiment}: {comparison.metric}: {comparison.verdict}{p_value}"
                    )
        if not self.comparisons:
            lines.append(
                "no experiment in this window: rankers that served at different times are not "
                "compared (run an A/B experiment to compare them)"
            )
        return "\n".join(lines)


def _estimate(summary: ArmSummary, name: str) -> str:
    estimate = summary.rates[name]
    if estimate.value is None:
        return "-"
    if estimate.low is None or estimate.high is None:
        return f"{estimate.value:.3f}"
    return f"{estimate.value:.3f} [{estimate.low:.3f},{estimate.high:.3f}]"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _day_text(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(day))).isoformat()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON values (None for NaN, ints as ints)."""
    records = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, float) and np.isnan(value):
                value = None
            elif isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.floating):
                value = float(value)
            clean[key] = value
        records.append(clean)
    return records


def experiment_report(
    db: Database,
    days: int = 7,
    *,
    experiment: Experiment | None = None,
    today: date | None = None,
    resamples: int = RESAMPLES,
) -> ExperimentReport:
    """The report of the last ``days`` days (UTC, today included). ``experiment``: the one
    configured now, whose arm order (the first is the baseline) the report follows."""
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    last = (today - date(1970, 1, 1)).days
    first = last - days + 1
    with db.connection() as connection:
        shown = repo.impression_counts(connection, first, last)
        outcomes = repo.outcome_counts(connection, first, last)
        movies = repo.distinct_movies_shown(connection, first, last, by_day=False)
        movies_daily = repo.distinct_movies_shown(connection, first, last, by_day=True)
        catalogue = repo.catalogue_size(connection)
    per_user = _per_user(shown, outcomes)
    summaries = []
    for key, users in per_user.groupby(KEYS, dropna=False, sort=False):
        experiment_name, arm, ranker = (key[0] or None, key[1], key[2])
        distinct = movies[
            (movies["experiment"].fillna("") == (experiment_name or "")) & (movies["arm"] == arm)
        ]["movies"]
        counts = ArmCounts(
            experiment=experiment_name,
            arm=arm,
            ranker=ranker,
            impressions=users["impressions"].to_numpy(float),
            slots=users["slots"].to_numpy(float),
            clicks=users["clicks"].to_numpy(float),
            liked=users["liked"].to_numpy(float),
            disliked=users["disliked"].to_numpy(float),
            dismissed=users["dismissed"].to_numpy(float),
            movies_shown=int(distinct.sum()) if len(distinct) else 0,
        )
        summaries.append(summarise(counts, catalogue, resamples=resamples))
    summaries.sort(key=lambda s: _arm_order(s.counts, experiment))
    return ExperimentReport(
        days=days,
        first_day=date(1970, 1, 1) + timedelta(days=first),
        last_day=today,
        catalogue_size=catalogue,
        arms=summaries,
        comparisons=_comparisons(summaries),
        by_source=_by(shown, outcomes, "source"),
        daily=_daily(shown, outcomes, movies_daily, catalogue),
        resamples=resamples,
        seconds=time.perf_counter() - started,
    )


def _outcomes_wide(outcomes: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Outcome counts with one column per class (0 where none), by ``keys``."""
    if outcomes.empty:
        return pd.DataFrame(columns=[*keys, *COUNTED])
    frame = outcomes.assign(outcome=outcomes["outcome"].map(_CLASS_TO_COUNT))
    wide = frame.pivot_table(
        index=keys, columns="outcome", values="count", aggfunc="sum", fill_value=0
    )
    for column in COUNTED:
        if column not in wide:
            wide[column] = 0
    return wide[COUNTED].reset_index()


def _per_user(shown: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, arm, ranker, user), summed over sources and days."""
    keys = [*KEYS, "user_id"]
    if shown.empty:
        return pd.DataFrame(columns=[*keys, "impressions", "slots", *COUNTED])
    shown = _filled(shown)
    users = shown.groupby(keys, dropna=False)[["impressions", "slots"]].sum().reset_index()
    wide = _outcomes_wide(_filled(outcomes), keys)
    merged = users.merge(wide, on=keys, how="left")
    merged[COUNTED] = merged[COUNTED].fillna(0)
    return merged


def _filled(frame: pd.DataFrame) -> pd.DataFrame:
    # Group keys must not be NaN (pandas would drop them): no experiment is "".
    return frame.assign(experiment=frame["experiment"].fillna("")) if not frame.empty else frame


def _by(shown: pd.DataFrame, outcomes: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per (experiment, arm, ranker, ``key``): users, impressions, slots and outcomes."""
    keys = [*KEYS, key]
    if shown.empty:
        return pd.DataFrame(columns=[*keys, "users", "impressions", "slots", *COUNTED])
    shown = _filled(shown)
    totals = shown.groupby(keys).agg(
        users=("user_id", "nunique"), impressions=("impressions", "sum"), slots=("slots", "sum")
    )
    wide = _outcomes_wide(_filled(outcomes), keys).set_index(keys)
    frame = totals.join(wide, how="left").fillna(0).reset_index()
    frame[COUNTED] = frame[COUNTED].astype(int)
    frame["experiment"] = frame["experiment"].replace("", None)
    return frame


def _daily(
    shown: pd.DataFrame, outcomes: pd.DataFrame, movies: pd.DataFrame, catalogue: int
) -> pd.DataFrame:
    """Per (experiment, arm, ranker, day): the counts and the point value of every rate."""
    frame = _by(shown, outcomes, "day")
    if frame.empty:
        return frame
    liked_users = (
        _per_user_day(shown, outcomes)
        .query("liked > 0")
        .groupby([*KEYS, "day"])
        .size()
        .rename("liked_users")
    )
    frame["experiment"] = frame["experiment"].fillna("")
    frame = frame.join(liked_users, on=[*KEYS, "day"]).fillna({"liked_users": 0})
    distinct = _filled(movies).rename(columns={"movies": "movies_shown"})
    frame = frame.merge(distinct, on=["experiment", "arm", "day"], how="left")
    frame["experiment"] = frame["experiment"].replace("", None)
    columns = {"users": frame["users"], "liked_users": frame["liked_users"]}
    for name, (top, bottom, _) in RATES.items():
        numerator = frame[top] if top in frame else columns[top]
        denominator = frame[bottom] if bottom in frame else columns[bottom]
        frame[name] = (numerator / denominator.where(denominator > 0)).astype(float)
    frame["coverage"] = frame["movies_shown"] / catalogue if catalogue else np.nan
    frame["liked_users"] = frame["liked_users"].astype(int)
    return frame.sort_values(["day", "experiment", "arm"], na_position="first")


def _per_user_day(shown: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    keys = [*KEYS, "day", "user_id"]
    users = _filled(shown).groupby(keys)[["impressions"]].sum().reset_index()
    wide = _outcomes_wide(_filled(outcomes), keys)
    merged = users.merge(wide, on=keys, how="left")
    merged[COUNTED] = merged[COUNTED].fillna(0)
    return merged


def _arm_order(counts: ArmCounts, experiment: Experiment | None) -> tuple:
    """Experiments first (the configured one first, its arms in its order), then rankers
    served without one."""
    if counts.experiment is None:
        return (2, "", 0, counts.arm)
    if experiment is not None and counts.experiment == experiment.name:
        names = [arm.name for arm in experiment.arms]
        position = names.index(counts.arm) if counts.arm in names else len(names)
        return (0, counts.experiment, position, counts.arm)
    return (1, counts.experiment, 0, counts.arm)


def _comparisons(summaries: list[ArmSummary]) -> dict[tuple[str, str], list[Comparison]]:
    """Each experiment arm against its experiment's first arm (the baseline)."""
    result: dict[tuple[str, str], list[Comparison]] = {}
    baselines: dict[str, ArmSummary] = {}
    for summary in summaries:
        name = summary.counts.experiment
        if name is None:
            continue
        if name not in baselines:
            baselines[name] = summary
            continue
        result[(name, summary.counts.arm)] = compare(summary, baselines[name])
    return result
