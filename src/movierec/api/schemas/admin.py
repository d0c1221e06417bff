"""Operations: what the recommendation engine serves (``GET /api/v1/admin/status``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from movierec.api.schemas.common import UtcTimestamp


class ModelRunOut(BaseModel):
    version: str
    status: str = Field(examples=["succeeded"])
    params: dict[str, object] = Field(
        description="The rating model's (Surprise SVD) parameters: it predicts the stars.",
        examples=[{"n_factors": 50, "n_epochs": 50, "lr_all": 0.008, "reg_all": 0.2}],
    )
    ranker: str = Field(
        description="The ranking model that decided the lists (RANKER).", examples=["puresvd"]
    )
    ranker_params: dict[str, object] | None = Field(
        description="The ranking model's parameters.",
        examples=[{"n_factors": 32, "weighting": "rating", "popularity_damping": 0.0}],
    )
    n_users: int | None
    n_movies: int | None
    n_ratings: int | None
    load_seconds: float | None
    fit_seconds: float | None = Field(description="Training the rating model (SVD).")
    rank_fit_seconds: float | None = Field(description="Training the ranking model.")
    content_seconds: float | None = Field(
        description="The content model: placing the movies with few or no ratings by their "
        "content (null: a run from before it)."
    )
    new_movies: int | None = Field(
        description="Movies served with fewer than CONTENT_WARM_RATINGS ratings (new)."
    )
    score_seconds: float | None
    publish_seconds: float | None
    train_rmse: float | None
    error: str | None
    started_at: UtcTimestamp
    finished_at: UtcTimestamp | None
    experiment: dict[str, object] | None = Field(
        None,
        description="The A/B experiment whose arms the run trained (each arm's ranker, "
        "parameters and share); null without one (then `ranker` decided every list).",
        examples=[{"name": "ab1", "arms": [{"arm": "puresvd", "ranker": "puresvd", "share": 0.5}]}],
    )


class CacheVersionsOut(BaseModel):
    recommendations: str | None = Field(description="Version readers use now; null: none yet.")
    statistics: str | None


class RunningJobsOut(BaseModel):
    recommendations: str | None = Field(
        description="Holder (host:pid:token) of a refresh running now, or null."
    )
    statistics: str | None


class RankingEvaluationOut(BaseModel):
    evaluated_at: UtcTimestamp
    split: str = Field(examples=["temporal"])
    k: int = Field(description="Metrics are @k.", examples=[10])
    n_ratings: int
    n_users: int = Field(description="Users with held-out ratings.")
    results: list[dict[str, object]] = Field(
        description="One row per ranker, the popular baseline first (`model`, `params`, "
        "`ndcg_rel`, `precision_rel`, `recall_rel`, `map_rel`, `hit_rate_rel`, `ndcg_any`, "
        "`distinct_movies`, `coverage`, `rare_share`, `mean_popularity`, `fit_seconds`, "
        "`score_seconds`, `ndcg_vs_popular`), as `movierec model evaluate --ranking --json` "
        "prints them."
    )


class EngineStatusOut(BaseModel):
    current_model: ModelRunOut | None = Field(
        description="The run whose lists are served now (null before the first refresh)."
    )
    latest_run: ModelRunOut | None = Field(description="The most recent run, whatever its outcome.")
    recent_runs: list[ModelRunOut] = Field(
        description="The last refreshes of the recommendations, newest first, whatever their "
        "outcome."
    )
    latest_evaluation: RankingEvaluationOut | None = Field(
        description="The latest `movierec model evaluate --ranking` of the database's ratings "
        "(null: none was run)."
    )
    versions: CacheVersionsOut
    users_with_recommendations: int
    running: RunningJobsOut
