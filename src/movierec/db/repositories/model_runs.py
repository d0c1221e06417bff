"""Queries on model runs (one row per recommendations refresh)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from movierec.db.models import ModelRun

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
# A run whose process died (killed, machine lost) without recording an outcome.
ABANDONED = "abandoned"


def start_run(
    session: Session,
    version: str,
    params: dict[str, object],
    started_at: datetime,
    ranker: str = "svd",
    ranker_params: dict[str, object] | None = None,
    *,
    experiment: dict[str, object] | None = None,
) -> None:
    """Record a refresh that starts: the rating model's ``params``, the ranker and its own
    (the first arm's, with an A/B ``experiment``: its arms, rankers and shares)."""
    session.add(
        ModelRun(
            version=version,
            status=RUNNING,
            params=params,
            ranker=ranker,
            ranker_params=ranker_params,
            experiment=experiment,
            started_at=started_at,
        )
    )


def finish_run(session: Session, version: str, finished_at: datetime, **figures: object) -> None:
    """Mark a run succeeded with its figures (n_users, fit_seconds, train_rmse, ...)."""
    session.execute(
        update(ModelRun)
        .where(ModelRun.version == version)
        .values(status=SUCCEEDED, finished_at=finished_at, **figures)
    )


def fail_run(
    session: Session, version: str, finished_at: datetime, error: str, **figures: object
) -> None:
    session.execute(
        update(ModelRun)
        .where(ModelRun.version == version)
        .values(status=FAILED, finished_at=finished_at, error=error[:2000], **figures)
    )


def abandon_runs(
    session: Session, started_before: datetime, finished_at: datetime, reason: str
) -> list[str]:
    """Mark every run still ``running`` that started before ``started_before`` abandoned (the
    caller knows no live process runs them); the versions marked."""
    versions = list(
        session.scalars(
            select(ModelRun.version).where(
                ModelRun.status == RUNNING, ModelRun.started_at < started_before
            )
        )
    )
    if versions:
        session.execute(
            update(ModelRun)
            .where(ModelRun.version.in_(versions), ModelRun.status == RUNNING)
            .values(status=ABANDONED, finished_at=finished_at, error=reason[:2000])
        )
    return versions


def get_run(session: Session, version: str) -> ModelRun | None:
    return session.get(ModelRun, version)


def latest_runs(session: Session, limit: int = 10) -> list[ModelRun]:
    """The most recent runs, newest first, whatever their status."""
    query = select(ModelRun).order_by(ModelRun.started_at.desc()).limit(limit)
    return list(session.scalars(query))
