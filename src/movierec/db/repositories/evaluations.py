"""Queries on ranking evaluations (one row per ``model evaluate --ranking`` of the database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from movierec.db.models import RankingEvaluation


def record_evaluation(
    session: Session, document: dict[str, Any], evaluated_at: datetime
) -> RankingEvaluation:
    evaluation = RankingEvaluation(
        evaluated_at=evaluated_at,
        split=document["split"],
        k=document["k"],
        n_ratings=document["n_ratings"],
        n_users=document["n_users"],
        document=document,
    )
    session.add(evaluation)
    session.flush()
    return evaluation


def latest_evaluation(session: Session) -> RankingEvaluation | None:
    query = select(RankingEvaluation).order_by(
        RankingEvaluation.evaluated_at.desc(), RankingEvaluation.evaluation_id.desc()
    )
    return session.scalars(query.limit(1)).first()
