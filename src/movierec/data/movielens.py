"""Read, validate and prepare MovieLens CSV files as data frames (no database code here)."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data import DataError

log = logging.getLogger(__name__)

RATINGS_COLUMNS = {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"}
MOVIES_COLUMNS = {"movieId": "int", "title": "str", "genres": "str"}
LINKS_COLUMNS = {"movieId": "int", "imdbId": "str", "tmdbId": "int?"}
TAGS_COLUMNS = {"movieId": "int", "tag": "str"}

# A movie's keywords, most applied first: MovieLens-25M's most tagged movies have hundreds of
# distinct tags, mostly said once; the features and the pages need the common ones.
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100
# MovieLens' genre names for TMDB's, where they differ (TMDB's others have no MovieLens name).
TMDB_GENRES = {"Science Fiction": "Sci-Fi", "Family": "Children", "Music": "Musical"}
# MovieLens' genre names (movies.csv, "|"-separated): the only genres a movie may have.
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
NO_GENRES = "(no genres listed)"

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


MOVIE_COLUMNS = [
    "movie_id", "title", "year", "genres", "description", "collection", "keywords", "imdb_id",
    "tmdb_id",
]  # fmt: skip


def read_movies(folder: Path, metadata: Path | None = None) -> pd.DataFrame:
    """movies.csv joined with links.csv, tags.csv as keywords when present and, given, a
    TMDB-style metadata file (description, collection, genres where movies.csv has none, more
    keywords), as the movies table. ``keywords`` holds a JSON list (None: nothing known)."""
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
    keywords = read_tags(folder) if (folder / "tags.csv").is_file() else pd.Series(dtype=object)
    keywords = movies["movie_id"].map(keywords)
    movies["description"] = None
    movies["collection"] = None
    if metadata is not None:
        details = read_metadata(metadata)
        joined = details.reindex(movies["tmdb_id"].astype("float64").to_numpy())
        joined.index = movies.index
        movies["description"] = joined["description"].astype(object)
        movies["collection"] = joined["collection"].astype(object)
        genreless = movies["genres"].isna() | (movies["genres"] == NO_GENRES)
        tmdb_genres = joined["genres"].where(genreless & joined["genres"].notna())
        movies["genres"] = tmdb_genres.combine_first(movies["genres"])
        keywords = pd.Series(
            [
                _merged_keywords(tags, more)
                for tags, more in zip(keywords, joined["keywords"], strict=True)
            ],
            index=movies.index,
            dtype=object,
        )
    movies["keywords"] = [
        json.dumps(list(words), ensure_ascii=False) if isinstance(words, (list, tuple)) else None
        for words in keywords
    ]
    for column in ("description", "collection"):
        movies[column] = movies[column].where(movies[column].notna(), None)
    return movies[MOVIE_COLUMNS]


def _merged_keywords(first: object, second: object) -> list[str] | None:
    """The keywords of both lists (either may be missing), first ones first, each once."""
    lists = [words for words in (first, second) if isinstance(words, (list, tuple))]
    if not lists:
        return None
    merged = dict.fromkeys(word for words in lists for word in words)
    return list(merged)[:MAX_KEYWORDS]


def normal_keyword(keyword: str) -> str:
    """A keyword as stored: blanks collapsed, in lower case (tags are written in any case)."""
    return " ".join(keyword.split()).casefold()[:MAX_KEYWORD_LENGTH]


def read_tags(folder: Path) -> pd.Series:
    """tags.csv as movie id -> its distinct tags (in lower case), most applied first (ties in
    alphabetical order), at most ``MAX_KEYWORDS``."""
    raw = read_csv_checked(folder / "tags.csv", TAGS_COLUMNS)
    tags = raw["tag"].str.split().str.join(" ").str.casefold().str.slice(0, MAX_KEYWORD_LENGTH)
    frame = pd.DataFrame({"movie_id": raw["movieId"], "tag": tags})
    frame = frame[frame["tag"].fillna("") != ""]
    counted = frame.groupby(["movie_id", "tag"]).size().rename("n").reset_index()
    counted = counted.sort_values(["movie_id", "n", "tag"], ascending=[True, False, True])
    counted = counted.groupby("movie_id").head(MAX_KEYWORDS)
    return counted.groupby("movie_id")["tag"].agg(list)


def _names(value: str) -> list[str]:
    """The names of a TMDB list field: a Python or JSON literal list of {"name": ...} (or of
    strings), else "|"-separated names. Unreadable text gives none."""
    text = value.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            try:
                parsed = json.loads(text)
            except ValueError:
                return []
        items = parsed if isinstance(parsed, list) else [parsed]
        names = [item.get("name") if isinstance(item, dict) else item for item in items]
        return [str(name).strip() for name in names if isinstance(name, str) and name.strip()]
    return [part.strip() for part in text.split("|") if part.strip()]


def _movielens_genres(names: list[str]) -> str | None:
    mapped = [TMDB_GENRES.get(name, name) for name in names]
    known = list(dict.fromkeys(name for name in mapped if name in GENRES))
    return "|".join(known) if known else None


def read_metadata(path: Path) -> pd.DataFrame:
    """A TMDB-style metadata CSV (The Movies Dataset's ``movies_metadata.csv``) by TMDB id:
    ``description`` (``overview``), ``collection`` (the name in ``belongs_to_collection``),
    ``genres`` (TMDB's, as MovieLens names where there is one) and ``keywords`` (a
    ``keywords`` column, when the file has one), each None where the file says nothing. Only
    ``id`` is required; the other columns are read when present."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    wanted = ("id", "overview", "belongs_to_collection", "genres", "keywords")
    try:
        header = pd.read_csv(path, nrows=0).columns
        if "id" not in header:
            raise DataError(f"{path}: missing column(s) id")
        if not any(name in header for name in wanted[1:]):
            raise DataError(
                f"{path}: missing column(s) overview, belongs_to_collection, genres or keywords "
                "(at least one)"
            )
        raw = pd.read_csv(
            path,
            usecols=[name for name in wanted if name in header],
            dtype=str,
            keep_default_na=False,
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: malformed CSV ({error})") from None
    ids = pd.to_numeric(raw["id"].str.strip(), errors="coerce")
    # The public TMDB dump has a few shifted rows (a date where the id belongs); metadata only
    # enriches movies, so such rows are skipped with a warning instead of failing the load.
    unusable = ids.isna() | (ids != np.floor(ids))
    if unusable.any():
        log.warning(
            "%s: skipped %d row(s) without a numeric id (first at line %d)",
            path,
            int(unusable.sum()),
            _first_bad_line(raw["id"], unusable),
        )
    raw = raw.loc[~unusable]
    empty = pd.Series([None] * len(raw), index=raw.index, dtype=object)

    def column(name: str) -> pd.Series:
        return raw[name] if name in raw else pd.Series([""] * len(raw), index=raw.index)

    overview = column("overview").str.strip()
    collection = (
        column("belongs_to_collection")
        .map(_names)
        .map(lambda names: names[0][: MAX_KEYWORD_LENGTH * 2] if names else None)
    )
    genres = column("genres").map(_names).map(_movielens_genres)
    keywords = (
        column("keywords")
        .map(_names)
        .map(lambda names: list(dict.fromkeys(map(normal_keyword, names)))[:MAX_KEYWORDS] or None)
    )
    details = pd.DataFrame(
        {
            "description": overview.where(overview != "", empty),
            "collection": collection,
            "genres": genres,
            "keywords": keywords,
        }
    )
    details.index = ids[~unusable].astype("int64").to_numpy()
    details = details.astype(object).where(details.notna(), None)
    return details[~details.index.duplicated()]
