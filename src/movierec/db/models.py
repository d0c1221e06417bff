"""The relational schema. Alembic migrations (db/migrations) are the only way it reaches a
database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so migrations can refer to them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always comes back in UTC.

    PostgreSQL keeps the zone (timestamptz); SQLite keeps naive text, so values are normalised to
    UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; MovieRec stores timezone-aware timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    # SQLite would otherwise hand a deleted user's id to the next new user (PostgreSQL's
    # sequence never does), and a refresh under way could publish the old user's list for it.
    __table_args__ = {"sqlite_autoincrement": True}

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gender: Mapped[str | None] = mapped_column(String(16))
    year_of_birth: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )
    # The user's latest write that changes what they may be recommended (services.changes).
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


# A list of strings: JSONB on PostgreSQL (it has equality, which the loader's "only rows that
# differ" comparison needs), JSON text elsewhere.
JSONList = JSON().with_variant(postgresql.JSONB(), "postgresql")

# New movies' ids on PostgreSQL (SQLite gives an INTEGER PRIMARY KEY the next one itself):
# after the highest id ever loaded or created, so an id is never handed out twice. Loads, which
# bring their own ids, move it on (db.bulk.sync_movie_id_sequence).
MOVIE_ID_SEQUENCE = Sequence("movies_movie_id_seq", metadata=Base.metadata)


class Movie(Base):
    __tablename__ = "movies"

    movie_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    year: Mapped[int | None] = mapped_column(Integer)
    genres: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    # The franchise it belongs to (TMDB's belongs_to_collection), e.g. "Star Wars Collection".
    collection: Mapped[str | None] = mapped_column(Text)
    # Keywords (MovieLens tags, TMDB keywords, or the API's), most telling first; None: none known.
    keywords: Mapped[list[str] | None] = mapped_column(JSONList)
    imdb_id: Mapped[str | None] = mapped_column(String(16))
    tmdb_id: Mapped[int | None] = mapped_column(Integer)
    # Created through the API (None: loaded from a data set).
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Last created or changed through the API: a re-load leaves the movie as the API left it
    # (unless --overwrite, for a loaded one). None: as a load wrote it.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Retired through the API: never recommended, in top or similar movies again; its ratings
    # stay (history, and the user side of the models). None: in the catalogue.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(
            "rating >= 0 AND rating <= 5 AND CAST(rating * 2 AS INTEGER) = rating * 2",
            name="half_star",
        ),
        # A user's top ratings (rating desc, newest first) and latest ratings (newest first).
        Index("ix_ratings_user_top", "user_id", "rating", "ts"),
        Index("ix_ratings_user_latest", "user_id", "ts", "rating"),
        # Per-movie aggregates (votes, average) read only this index.
        Index("ix_ratings_movie_rating", "movie_id", "rating"),
    )

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.movie_id", ondelete="CASCADE"), primary_key=True
    )
    rating: Mapped[float] = mapped_column(Float, nullable=False)
    is_implicit: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # True while the row holds what `movierec data load` wrote; an API write makes it False,
    # and a re-load then leaves the row alone (unless --overwrite).
    from_load: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class DeletedUser(Base):
    """A tombstone: a user deleted through the API, whom a re-load must not bring back."""

    __tablename__ = "deleted_users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deleted_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp(), index=True
    )


class DeletedRating(Base):
    """A tombstone: a rating deleted through the API, which a re-load must not bring back.
    It goes with its user (whose own tombstone then covers it) or its movie."""

    __tablename__ = "deleted_ratings"

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.movie_id", ondelete="CASCADE"), primary_key=True
    )
    deleted_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )


class DismissedMovie(Base):
    """A movie the user said they are not interested in: never recommended to them again. Not
    a rating: it trains nothing and is not in their rating lists."""

    __tablename__ = "dismissed_movies"

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.movie_id", ondelete="CASCADE"), primary_key=True
    )
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ModelRun(Base):
    """One recommendations refresh: the models trained, how long each step took, and whether it
    reached Redis. ``version`` is the Redis version id of the lists it published."""

    __tablename__ = "model_runs"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    # running | succeeded | failed | abandoned (its process died without recording an outcome)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False)  # the SVD's
    # The ranking model that decided the lists (RANKER) and its parameters.
    ranker: Mapped[str] = mapped_column(String(32), nullable=False, server_default="svd")
    ranker_params: Mapped[dict[str, object] | None] = mapped_column(JSON)
    rank_fit_seconds: Mapped[float | None] = mapped_column(Float)
    # The content model: placing the movies with few or no ratings, and how many those were.
    content_seconds: Mapped[float | None] = mapped_column(Float)
    new_movies: Mapped[int | None] = mapped_column(Integer)
    n_users: Mapped[int | None] = mapped_column(Integer)
    n_movies: Mapped[int | None] = mapped_column(Integer)
    n_ratings: Mapped[int | None] = mapped_column(Integer)
    load_seconds: Mapped[float | None] = mapped_column(Float)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    score_seconds: Mapped[float | None] = mapped_column(Float)
    publish_seconds: Mapped[float | None] = mapped_column(Float)
    train_rmse: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The A/B experiment whose arms the run trained and published (each arm's ranker and
    # parameters); None without one (``ranker`` is then the one ranker).
    experiment: Mapped[dict[str, object] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_model_runs_started_at", "started_at"),)


class RankingEvaluation(Base):
    """One ``movierec model evaluate --ranking`` of the database's ratings: how well each ranker
    ranked a held-out part, kept so that operators see the latest figures (the operator page,
    ``GET /api/v1/admin/status``) without rerunning it."""

    __tablename__ = "ranking_evaluations"

    evaluation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    split: Mapped[str] = mapped_column(String(16), nullable=False)  # temporal | random | ...
    k: Mapped[int] = mapped_column(Integer, nullable=False)
    n_ratings: Mapped[int] = mapped_column(Integer, nullable=False)
    n_users: Mapped[int] = mapped_column(Integer, nullable=False)
    # The whole document the command printed with --json (settings of the split, one row of
    # metrics per ranker), so that a new metric needs no migration.
    document: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_ranking_evaluations_evaluated_at", "evaluated_at"),)


# A 64-bit id that is an INTEGER PRIMARY KEY (the rowid, autoincremented) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# A list of movie ids: an integer[] on PostgreSQL, a JSON array on SQLite.
MovieIds = postgresql.ARRAY(Integer()).with_variant(JSON(), "sqlite")


class Impression(Base):
    """One recommendations answer as it was shown to a user: the movies and their ranks, where
    the list came from, and which ranker (and experiment arm) made it. Written by the
    scheduler's drain from the Redis stream the web tier records into (``jobs.impressions``);
    the same answer asked again within IMPRESSIONS_DEDUP_SECONDS is one row. User ids only:
    nothing else about the person. Deleted with the user, and after
    IMPRESSIONS_RETENTION_DAYS."""

    __tablename__ = "impressions"
    __table_args__ = (
        # Attribution: a user's impressions around an outcome's time.
        Index("ix_impressions_user_shown", "user_id", "shown_at"),
        # The same answer within the dedup window, and clicks naming their answer.
        Index("ix_impressions_fingerprint_shown", "fingerprint", "shown_at"),
        # Reports (a window of days) and retention.
        Index("ix_impressions_day", "day"),
        Index("ix_impressions_shown_at", "shown_at"),
        {"sqlite_autoincrement": True},
    )

    impression_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The Redis stream entry it was drained from: a drain repeated after a crash inserts
    # nothing twice.
    stream_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    day: Mapped[int] = mapped_column(Integer, nullable=False)  # days since 1970-01-01, UTC
    # The answer's identity (user, arm, page, movies): the impression id clients are given.
    fingerprint: Mapped[int] = mapped_column(BigInteger, nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    ranker: Mapped[str] = mapped_column(String(32), nullable=False)
    # The experiment arm, or the ranker's name when no experiment ran.
    arm: Mapped[str] = mapped_column(String(64), nullable=False)
    experiment: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    first_rank: Mapped[int] = mapped_column(Integer, nullable=False)  # the page's offset
    movie_ids: Mapped[list[int]] = mapped_column(MovieIds, nullable=False)  # best first
    slots: Mapped[int] = mapped_column(Integer, nullable=False)


class ImpressionOutcome(Base):
    """Something a user did to a movie (rated, watched, dismissed, clicked), attributed by the
    drain to the first impression that showed it to them within
    IMPRESSIONS_OUTCOME_WINDOW_DAYS before (``impression_id``; None when none did), or still
    waiting for attribution (``attributed_at`` None). Ratings, watches and dismissals are
    written in the transaction of the write itself; clicks come through the stream."""

    __tablename__ = "impression_outcomes"
    __table_args__ = (
        Index(
            "ix_impression_outcomes_pending",
            "at",
            postgresql_where=text("attributed_at IS NULL"),
            sqlite_where=text("attributed_at IS NULL"),
        ),
        Index("ix_impression_outcomes_impression", "impression_id"),
        Index("ix_impression_outcomes_at", "at"),
        Index("ix_impression_outcomes_user", "user_id"),
        {"sqlite_autoincrement": True},
    )

    outcome_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # A click's stream entry (None for the outcomes written with their write).
    stream_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
    )
    movie_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("movies.movie_id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # rated|watched|dismissed|clicked
    rating: Mapped[float | None] = mapped_column(Float)  # the stars of a rating
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The impression id a click named (its fingerprint), if any.
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)
    impression_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("impressions.impression_id", ondelete="CASCADE")
    )
    attributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImpressionDrain(Base):
    """How far the drain has read each Redis stream: moved in the transaction that writes what
    it read, so a drain killed at any point neither loses nor repeats an entry."""

    __tablename__ = "impression_drain"

    stream: Mapped[str] = mapped_column(String(200), primary_key=True)  # the stream's key
    last_id: Mapped[str] = mapped_column(String(40), nullable=False)
    drained_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
