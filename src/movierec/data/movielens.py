"""Read, validate and prepare MovieLens CSV files as data frames (no database code here)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data import DataError

log = logging.getLogger(__name__)

RATINGS_COLUMNS = {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"}
MOVIES_COLUMNS = {"movieId": "int", "title": "str", "genres": "str"}
LINKS_COLUMNS = {"movieId": "int", "imdbId": "str", "tmdbId": "int?"}

# "Shawshank Redemption, The (1994)": a year at the end, optionally a range "(2006–2007)".
_YEAR = r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$"
# MovieLens appends alternative (often original-language) titles in parentheses:
# "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il)". People say the first.
_ALTERNATIVE_TITLES = r"^(?P<main>.+?)(?:\s+\([^()]*\))+$"
_ARTICLES = "The|A|An|L'|Le|La|Les|Il|El|Lo|Der|Die|Das|Den|Det|De|Het|Los|Las|Un|Une|Ein|Eine"
_TRAILING_ARTICLE = rf"^(?P<main>.+), (?P<article>{_ARTICLES})$"


_DTYPES = {"int": "int64", "int?": "Int64", "float": "float64", "str": str}


def _first_bad_line(values: pd.Series, mask: pd.Series) -> int:
    # Line 1 is the header, so row i of the frame is line i + 2 of the file.
    return int(np.flatnonzero(mask.to_numpy())[0]) + 2


def read_csv_checked(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """Read ``columns`` of a CSV file; any missing file, column or bad number raises DataError
    naming the file and line."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: unreadable CSV ({error})") from None
    missing = [name for name in columns if name not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    try:
        # Fast path: the C parser types the columns itself. Reading every value as a string
        # first would not fit a 25M-row file in memory; that is only done to name a bad line.
        return pd.read_csv(
            path,
            usecols=list(columns),
            dtype={name: _DTYPES[kind] for name, kind in columns.items()},
            keep_default_na=False,
            na_values={name: [""] for name, kind in columns.items() if kind == "int?"},
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    except (ValueError, TypeError, OverflowError):
        pass  # a value the parser could not type: find the line below
    frame = pd.read_csv(
        path, usecols=list(columns), dtype=str, keep_default_na=False, na_filter=False
    )
    for name, kind in columns.items():
        if kind == "str":
            continue
        optional = kind.endswith("?")
        raw = frame[name].str.strip()
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = numbers.isna() & ~(optional & (raw == ""))
        if kind.startswith("int"):
            bad |= numbers.notna() & (numbers != np.floor(numbers))
        if bad.any():
            line = _first_bad_line(raw, bad)
            value = raw.iloc[line - 2]
            raise DataError(f"{path}:{line}: column {name}: not a valid number: {value!r}")
        if kind.startswith("int"):
            frame[name] = numbers.astype("Int64" if optional else "int64")
        else:
            frame[name] = numbers.astype("float64")
    return frame


def read_ratings(folder: Path) -> pd.DataFrame:
    """ratings.csv as user_id, movie_id, rating (half stars 0-5), ts (UTC), in file order."""
    path = folder / "ratings.csv"
    raw = read_csv_checked(path, RATINGS_COLUMNS)
    rating = raw["rating"]
    bad = (rating < 0) | (rating > 5) | (rating * 2 != np.round(rating * 2))
    if bad.any():
        line = _first_bad_line(rating, bad)
        raise DataError(
            f"{path}:{line}: column rating: {rating.iloc[line - 2]} is not a half star in 0-5"
        )
    duplicated = raw.duplicated(["userId", "movieId"])
    if duplicated.any():
        line = _first_bad_line(raw["userId"], duplicated)
        raise DataError(f"{path}:{line}: a second rating for the same user and movie")
    return pd.DataFrame(
        {
            "user_id": raw["userId"],
            "movie_id": raw["movieId"],
            "rating": rating,
            "ts": pd.to_datetime(raw["timestamp"], unit="s", utc=True),
        }
    )


def split_titles(titles: pd.Series) -> pd.DataFrame:
    """Titles the way people read them, and the year split out (missing when there is none)."""
    parts = titles.str.strip().str.extract(_YEAR)
    has_year = parts["title"].notna()
    title = parts["title"].where(has_year, titles.str.strip())
    year = pd.to_numeric(parts["year"], errors="coerce").astype("Int64")
    title = title.str.extract(_ALTERNATIVE_TITLES)["main"].fillna(title)
    articles = title.str.extract(_TRAILING_ARTICLE)
    moved = articles["main"].notna()
    separator = np.where(articles["article"].str.endswith("'").fillna(False), "", " ")
    title = title.where(~moved, articles["article"] + separator + articles["main"])
    return pd.DataFrame({"title": title, "year": year})


def read_movies(folder: Path, metadata: Path | None = None) -> pd.DataFrame:
    """movies.csv joined with links.csv (and, given, TMDB overviews) as the movies table."""
    path = folder / "movies.csv"
    raw = read_csv_checked(path, MOVIES_COLUMNS)
    duplicated = raw["movieId"].duplicated()
    if duplicated.any():
        line = _first_bad_line(raw["movieId"], duplicated)
        raise DataError(f"{path}:{line}: movieId {raw['movieId'].iloc[line - 2]} appears twice")
    movies = pd.concat(
        [raw[["movieId"]].rename(columns={"movieId": "movie_id"}), split_titles(raw["title"])],
        axis=1,
    )
    movies["genres"] = raw["genres"].replace("", None)
    links_path = folder / "links.csv"
    if links_path.is_file():
        links = read_csv_checked(links_path, LINKS_COLUMNS).drop_duplicates("movieId")
        links = links.rename(columns={"movieId": "movie_id", "tmdbId": "tmdb_id"})
        imdb = links["imdbId"].str.strip()
        links["imdb_id"] = ("tt" + imdb.str.zfill(7)).where(imdb != "", None)
        movies = movies.merge(links[["movie_id", "imdb_id", "tmdb_id"]], on="movie_id", how="left")
    else:
        movies["imdb_id"] = None
        movies["tmdb_id"] = pd.array([pd.NA] * len(movies), dtype="Int64")
    movies["description"] = None
    if metadata is not None:
        overviews = read_overviews(metadata)
        movies["description"] = movies["tmdb_id"].map(overviews).astype(object)
        movies.loc[movies["description"].isna(), "description"] = None
    return movies[["movie_id", "title", "year", "genres", "description", "imdb_id", "tmdb_id"]]


def read_overviews(path: Path) -> pd.Series:
    """TMDB id -> overview from a TMDB-style metadata CSV (columns id, overview)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        header = pd.read_csv(path, nrows=0).columns
        missing = [name for name in ("id", "overview") if name not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
        raw = pd.read_csv(path, usecols=["id", "overview"], dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    ids = pd.to_numeric(raw["id"].str.strip(), errors="coerce")
    # The public TMDB dump has a few shifted rows (a date where the id belongs); metadata only
    # enriches descriptions, so such rows are skipped with a warning instead of failing the load.
    unusable = ids.isna() | (ids != np.floor(ids))
    if unusable.any():
        log.warning(
            "%s: skipped %d row(s) without a numeric id (first at line %d)",
            path,
            int(unusable.sum()),
            _first_bad_line(raw["id"], unusable),
        )
    overviews = raw.loc[~unusable, "overview"].str.strip()
    series = pd.Series(overviews.to_numpy(), index=ids[~unusable].astype("int64").to_numpy())
    series = series[series != ""]
    return series[~series.index.duplicated()]
