"""Clicks on recommended movies, and the online report of what the lists showed and what users
did next (``GET /api/v1/admin/experiment``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from movierec.api.schemas.common import BodyId, QueryModel, RequestBody


class ClickBody(RequestBody):
    movie_id: BodyId
    impression_id: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{16}$",
        description="The `impression_id` of the recommendations answer that showed the movie. "
        "Without it the click counts for the latest answer that showed the movie to the user.",
        examples=["3f9c2a7d1e0b4c55"],
    )


class ClickOut(BaseModel):
    user_id: int
    movie_id: int
    impression_id: str | None
    recorded: bool = Field(
        description="False when clicks are not recorded (IMPRESSIONS=off, or the user is not "
        "in the sample). The same click sent twice counts once."
    )


class ExperimentQuery(QueryModel):
    days: int = Field(7, ge=1, le=3650, description="Days to report, today (UTC) included.")


class RateOut(BaseModel):
    value: float | None = Field(description="Null: nothing to divide by.")
    low: float | None = Field(description="Lower end of the 95% interval (bootstrap over users).")
    high: float | None


class ComparisonOut(BaseModel):
    metric: str = Field(examples=["liked_per_user"])
    baseline: str = Field(description="The experiment's first arm.")
    difference: float | None = Field(description="This arm's rate minus the baseline's.")
    low: float | None
    high: float | None
    p_value: float | None = Field(
        description="Two-proportion z-test (liked per user only); null for the other rates."
    )
    significant: bool = Field(description="The 95% interval of the difference excludes 0.")
    verdict: str = Field(examples=["not significant (95% interval -0.0120 to +0.0310 includes 0)"])


class CountsOut(BaseModel):
    users: int
    impressions: int
    slots: int
    clicks: int
    liked: int
    disliked: int
    dismissed: int


class SourceOut(CountsOut):
    source: str = Field(examples=["model"])


class ArmOut(BaseModel):
    experiment: str | None = Field(description="Null: served without an experiment.")
    arm: str = Field(description="The experiment's arm; the ranker's name without one.")
    ranker: str
    users: int = Field(description="Distinct users shown a list.")
    impressions: int = Field(
        description="Answers shown (the same answer asked again within "
        "IMPRESSIONS_DEDUP_SECONDS once)."
    )
    slots: int = Field(description="Movies shown.")
    clicks: int = Field(description="Movies shown and then clicked (each once per answer).")
    liked_after_shown: int = Field(
        description="Movies shown and then rated 4 or more or watched, within "
        "IMPRESSIONS_OUTCOME_WINDOW_DAYS (each once per answer, for the first that showed it)."
    )
    disliked_after_shown: int = Field(description="Movies shown and then rated below 4.")
    dismissed_after_shown: int = Field(description="Movies shown and then dismissed.")
    users_who_liked: int
    movies_shown: int = Field(description="Distinct movies shown.")
    coverage: float | None = Field(description="Distinct movies shown / movies in the catalogue.")
    rates: dict[str, RateOut] = Field(
        description="click_through, liked_per_user, liked_per_slot, disliked_per_slot, "
        "dismissed_per_slot."
    )
    by_source: list[SourceOut]
    comparison: list[ComparisonOut] = Field(
        description="Against the experiment's first arm (empty for the first arm and without "
        "an experiment)."
    )


class DailyOut(CountsOut):
    day: str = Field(examples=["2026-12-01"])
    experiment: str | None
    arm: str
    ranker: str
    liked_users: int
    movies_shown: int | None
    click_through: float | None
    liked_per_user: float | None
    liked_per_slot: float | None
    disliked_per_slot: float | None
    dismissed_per_slot: float | None
    coverage: float | None


class ExperimentReportOut(BaseModel):
    # "from" is a Python keyword: the field is from_, written and read as "from".
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    days: int
    from_: str = Field(alias="from", examples=["2026-11-25"])
    to: str = Field(examples=["2026-12-01"])
    catalogue_size: int
    confidence: float = Field(examples=[0.95])
    resamples: int = Field(description="Bootstrap resamples of users behind the intervals.")
    rates: dict[str, str] = Field(description="What each rate is.")
    primary_rate: str = Field(description="The rate an experiment is judged by first.")
    arms: list[ArmOut]
    daily: list[DailyOut] = Field(description="Per day (of the answers) and arm; oldest first.")
