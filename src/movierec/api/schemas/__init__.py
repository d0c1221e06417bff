"""The pydantic models of the HTTP API: what requests may contain and what responses contain,
a module per resource (as the blueprints are): ``movies``, ``users``, ``ratings``,
``dismissed``, ``recommendations`` (and the top movies), ``admin``, ``health``, with ``errors``
and what they all share in ``common``.

flask-openapi3 validates path, query and body parameters with these models and builds the
OpenAPI document from the same models, so the document cannot drift from what the code accepts.
Responses are built through these models too (``respond``), so they match what is documented.

Input strictness, decided once for the whole API: ids and ratings in bodies must be JSON numbers
(a string such as ``"4.0"`` or a boolean is a 400; an id may be written ``42.0``, as JSON Schema's
"integer" allows). Only ``year_of_birth`` also accepts a numeric string, because the original
description's own example sends ``"year_of_birth": "1982"``.
"""

from movierec.api.schemas.admin import (
    CacheVersionsOut,
    EngineStatusOut,
    ModelRunOut,
    RankingEvaluationOut,
    RunningJobsOut,
)
from movierec.api.schemas.common import (
    MAX_ID,
    MAX_LIMIT,
    ApiModel,
    BodyId,
    Id,
    LimitQuery,
    MoviePath,
    MovieRefBody,
    QueryModel,
    RequestBody,
    UserPath,
    UtcTimestamp,
)
from movierec.api.schemas.dismissed import (
    DismissalDeletedOut,
    DismissalOut,
    DismissedMovieOut,
    DismissedMoviesOut,
)
from movierec.api.schemas.errors import ErrorDetail, ErrorOut
from movierec.api.schemas.health import LiveOut, NotReadyOut, ReadyOut
from movierec.api.schemas.movies import (
    DEFAULT_SIMILAR,
    FoundMovieOut,
    MovieOut,
    MovieSearchOut,
    MovieSearchQuery,
    MovieStatisticsOut,
    SimilarMovieOut,
    SimilarMoviesOut,
    SimilarQuery,
    movie_fields,
    serialize_movie,
)
from movierec.api.schemas.ratings import (
    RatedMovieOut,
    RatingBody,
    RatingDeletedOut,
    RatingOut,
    RatingValue,
    UserRatingsOut,
    WatchedOut,
)
from movierec.api.schemas.recommendations import (
    DEFAULT_TOP_MOVIES,
    MAX_OFFSET,
    MAX_YEAR,
    MIN_YEAR,
    MovieListQuery,
    ReasonOut,
    RecommendationsOut,
    RecommendationsQuery,
    RecommendedMovieOut,
    TopMovieOut,
    TopMoviesOut,
    TopMoviesQuery,
)
from movierec.api.schemas.users import (
    NewUserBody,
    UserDeletedOut,
    UserOut,
)

__all__ = [
    "ApiModel",
    "BodyId",
    "CacheVersionsOut",
    "DEFAULT_SIMILAR",
    "DEFAULT_TOP_MOVIES",
    "DismissalDeletedOut",
    "DismissalOut",
    "DismissedMovieOut",
    "DismissedMoviesOut",
    "EngineStatusOut",
    "ErrorDetail",
    "ErrorOut",
    "FoundMovieOut",
    "Id",
    "LimitQuery",
    "LiveOut",
    "MAX_ID",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_YEAR",
    "MIN_YEAR",
    "ModelRunOut",
    "MovieListQuery",
    "MovieOut",
    "MoviePath",
    "MovieRefBody",
    "MovieSearchOut",
    "MovieSearchQuery",
    "MovieStatisticsOut",
    "NewUserBody",
    "NotReadyOut",
    "QueryModel",
    "RankingEvaluationOut",
    "RatedMovieOut",
    "RatingBody",
    "RatingDeletedOut",
    "RatingOut",
    "RatingValue",
    "ReadyOut",
    "ReasonOut",
    "RecommendationsOut",
    "RecommendationsQuery",
    "RecommendedMovieOut",
    "RequestBody",
    "RunningJobsOut",
    "SimilarMovieOut",
    "SimilarMoviesOut",
    "SimilarQuery",
    "TopMovieOut",
    "TopMoviesOut",
    "TopMoviesQuery",
    "UserDeletedOut",
    "UserOut",
    "UserPath",
    "UserRatingsOut",
    "UtcTimestamp",
    "WatchedOut",
    "movie_fields",
    "serialize_movie",
]
