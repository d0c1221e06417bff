"""What a movie is before anyone has rated it, as numbers: its content turned into features.

``MovieContent`` holds every movie's title, year, genres, description, collection (a franchise,
TMDB's ``belongs_to_collection``) and keywords (MovieLens tags, TMDB keywords) as parallel
arrays, movie ids ascending, as the database and the MovieLens reader give them.

``ContentEncoder`` turns them into one dense row per movie, in blocks:

- genres: one column per genre, the row scaled to length 1 (a movie of three genres is a third
  of each, not three times a one-genre movie);
- decade of release: one column per decade seen (none for an unknown year);
- text: scikit-learn's TF-IDF of the title and description (English stop words out, sublinear
  term frequency, words of at least ``min_df`` movies), reduced by truncated SVD (latent
  semantic analysis) to ``text_dims`` columns: the mapping learned on top has a few hundred
  inputs, not tens of thousands, whatever the catalogue;
- keywords: TF-IDF of the whole keywords ("time travel" is one term), reduced the same way.

Collections are not a dense block: a movie belongs to at most one, so they are one code per
movie (``collections``, -1 for none), for the collections that hold at least two movies (a
collection of one says nothing about any other movie). The mapping (``recommender.content``)
solves for them in closed form without a column per collection.

Every block is linear in the movie's TF-IDF rows and one-hot codes, so a fitted mapping folds
into one vector per term, genre, decade and collection (``recommender.content.ContentMap``): a
web process places a movie created after the refresh without the SVD's components.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# MovieLens' marker of a movie without genres: no genre at all.
NO_GENRES = "(no genres listed)"


def _object_array(values: Iterable[object]) -> np.ndarray:
    items = list(values)
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _keyword_tuple(value: object) -> tuple[str, ...]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(str(k) for k in value if str(k).strip())  # type: ignore[union-attr]


@dataclass(frozen=True)
class MovieContent:
    """The content of movies, one per index, ids ascending. Missing text is ""; an unknown
    year NaN; no keywords an empty tuple."""

    movie_ids: np.ndarray  # int64, ascending
    titles: np.ndarray  # object: str
    years: np.ndarray  # float64, NaN when unknown
    genres: np.ndarray  # object: "Action|Sci-Fi" (MovieLens' form), "" for none
    descriptions: np.ndarray  # object: str
    collections: np.ndarray  # object: str, "" for none
    keywords: np.ndarray  # object: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.movie_ids)
        for name in ("titles", "years", "genres", "descriptions", "collections", "keywords"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"movie content: {name} has another length than movie_ids")
        if n > 1 and np.any(np.diff(self.movie_ids) <= 0):
            raise ValueError("movie content: movie ids must be ascending and distinct")

    def __len__(self) -> int:
        return len(self.movie_ids)

    @classmethod
    def of(
        cls,
        movie_ids: Sequence[int] | np.ndarray,
        *,
        titles: Iterable[object] | None = None,
        years: Iterable[object] | None = None,
        genres: Iterable[object] | None = None,
        descriptions: Iterable[object] | None = None,
        collections: Iterable[object] | None = None,
        keywords: Iterable[object] | None = None,
    ) -> MovieContent:
        """From parallel sequences in any id order (None values and missing fields are
        "nothing known"); sorted by movie id."""
        ids = np.asarray(movie_ids, dtype=np.int64)
        n = len(ids)

        def texts(values: Iterable[object] | None) -> np.ndarray:
            if values is None:
                return _object_array([""] * n)
            return _object_array(_text(v) for v in values)

        year_values = (
            np.array(
                [np.nan if y is None or _text(y) == "" else float(y) for y in years],  # type: ignore[arg-type]
                dtype=np.float64,
            )
            if years is not None
            else np.full(n, np.nan)
        )
        words = (
            _object_array(_keyword_tuple(k) for k in keywords)
            if keywords is not None
            else _object_array([()] * n)
        )
        order = np.argsort(ids, kind="stable")
        return cls(
            movie_ids=ids[order],
            titles=texts(titles)[order],
            years=year_values[order],
            genres=texts(genres)[order],
            descriptions=texts(descriptions)[order],
            collections=texts(collections)[order],
            keywords=words[order],
        )

    @classmethod
    def from_frame(cls, frame: Any) -> MovieContent:
        """From a movies frame (the loader's or the database's columns: movie_id, title,
        year, genres, description, collection, keywords as a JSON list or a list)."""

        def column(name: str) -> Any:
            return frame.get(name)

        keywords = column("keywords")
        if keywords is not None:
            keywords = [json.loads(k) if isinstance(k, str) else k for k in keywords]
        return cls.of(
            frame["movie_id"].to_numpy(),
            titles=column("title"),
            years=None if column("year") is None else frame["year"].astype("float64"),
            genres=column("genres"),
            descriptions=column("description"),
            collections=column("collection"),
            keywords=keywords,
        )

    def take(self, index: np.ndarray) -> MovieContent:
        """The movies at ``index`` (integer positions, ascending, or a boolean mask)."""
        return MovieContent(
            **{name: getattr(self, name)[index] for name in self.__dataclass_fields__}
        )

    def rows_of(self, movie_ids: np.ndarray) -> np.ndarray:
        """Position of each movie id, -1 for ids not held."""
        from movierec.recommender.data import positions

        return positions(self.movie_ids, movie_ids)

    def without_keywords(self, movie_ids: np.ndarray) -> MovieContent:
        """The same content with the keywords of ``movie_ids`` removed (the cold-movie
        protocol: tags are written by people who watched a movie, a new release has none)."""
        rows = self.rows_of(np.asarray(movie_ids))
        keywords = self.keywords.copy()
        for row in rows[rows >= 0]:
            keywords[row] = ()
        return MovieContent(**{**self._fields(), "keywords": keywords})

    def genres_and_year_only(self) -> MovieContent:
        """Only what every movie has: genres and year (no text, collection or keywords)."""
        n = len(self)
        return MovieContent(
            **{
                **self._fields(),
                "titles": _object_array([""] * n),
                "descriptions": _object_array([""] * n),
                "collections": _object_array([""] * n),
                "keywords": _object_array([()] * n),
            }
        )

    def _fields(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def genre_names(genres: str) -> list[str]:
    """The genres of MovieLens' "A|B" form (none for "" or "(no genres listed)")."""
    return [g for g in genres.split("|") if g and g != NO_GENRES]


def keyword_terms(keywords: Sequence[str]) -> list[str]:
    """TF-IDF's analyzer for keywords: each keyword is one term, in any case ("Time travel"
    and "time travel" are one)."""
    return [" ".join(k.casefold().split()) for k in keywords]


def text_document(title: str, description: str, use_title: bool = True) -> str:
    if not use_title:
        return description
    return f"{title}\n{description}" if description else title


@dataclass(frozen=True)
class ContentFeatureParams:
    """How content becomes features. Each block's weight scales its part of a movie's row:
    the mapping's single regularisation then treats the blocks alike."""

    text_dims: int = 128
    keyword_dims: int = 64
    min_df: int = 2  # a term must occur in this many movies (a word of one movie says nothing)
    genre_weight: float = 1.0
    decade_weight: float = 1.0
    text_weight: float = 1.0
    keyword_weight: float = 1.0
    # The title as part of the text (words of a franchise's titles), besides the description.
    use_title: bool = True
    random_state: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class TermBlock:
    """A fitted TF-IDF vocabulary (terms, idf) and its truncated-SVD components."""

    terms: np.ndarray  # str
    idf: np.ndarray  # float64
    components: np.ndarray  # (dims, terms) float64; (0, terms) when there is too little text
    keywords: bool  # the keyword analyzer, else the English word analyzer
    _vectorizer: Any = field(default=None, repr=False, compare=False)

    def vectorizer(self):  # type: ignore[no-untyped-def]
        """scikit-learn's vectorizer with this vocabulary and idf (nothing to fit), built once:
        a web process placing one movie should not rebuild a 20k-term vocabulary each time."""
        if self._vectorizer is None:
            vectorizer = make_vectorizer(
                self.keywords, 1, vocabulary={t: i for i, t in enumerate(self.terms.tolist())}
            )
            if len(self.terms):
                vectorizer.idf_ = self.idf
            self._vectorizer = vectorizer
        return self._vectorizer

    def tfidf(self, documents: Sequence[object]):  # type: ignore[no-untyped-def]
        import scipy.sparse as sp

        if not len(self.terms):
            return sp.csr_matrix((len(documents), 0))
        return self.vectorizer().transform(documents)


def make_vectorizer(keywords: bool, min_df: int, vocabulary: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    from sklearn.feature_extraction.text import TfidfVectorizer

    if keywords:
        return TfidfVectorizer(
            analyzer=keyword_terms, min_df=min_df, sublinear_tf=True, vocabulary=vocabulary
        )
    return TfidfVectorizer(
        stop_words="english",
        min_df=min_df,
        max_df=0.5,  # a word in half the movies places none of them
        sublinear_tf=True,
        vocabulary=vocabulary,
    )


def _fit_terms(
    documents: Sequence[object], keywords: bool, dims: int, min_df: int, seed: int
) -> TermBlock:
    from sklearn.decomposition import TruncatedSVD

    vectorizer = make_vectorizer(keywords, min_df)
    try:
        tfidf = vectorizer.fit_transform(documents)
    except ValueError:  # no term in enough movies (an empty vocabulary)
        return TermBlock(np.array([], dtype=str), np.empty(0), np.empty((0, 0)), keywords)
    terms = vectorizer.get_feature_names_out().astype(str)
    n_components = min(dims, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
    if n_components < 1:
        components = np.empty((0, len(terms)))
    else:
        # Two power iterations: the leading topics of a vocabulary of tens of thousands of words
        # are found as well as with five, in half the time (at 59k movies, most of this step).
        svd = TruncatedSVD(n_components=n_components, n_iter=2, random_state=seed)
        svd.fit(tfidf)
        components = svd.components_.astype(np.float64)
    return TermBlock(terms, vectorizer.idf_.astype(np.float64), components, keywords)


@dataclass
class ContentFeatures:
    """Encoded movies: the dense blocks (one row per movie) and each movie's collection code
    (-1: none, or a collection of one movie)."""

    dense: np.ndarray  # (movies, width) float64
    collections: np.ndarray  # int64
    n_collections: int


@dataclass
class ContentEncoder:
    """Fitted on a catalogue's content (unsupervised: no rating is used), then encodes any
    movies' content the same way."""

    params: ContentFeatureParams = field(default_factory=ContentFeatureParams)
    genres: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    decades: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    collections: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    # The year of each collection's first movie (NaN: unknown): a later one is a sequel.
    collection_first_years: np.ndarray = field(default_factory=lambda: np.empty(0))
    text: TermBlock | None = None
    keywords: TermBlock | None = None

    def fit(self, content: MovieContent) -> ContentEncoder:
        p = self.params
        self.genres = np.array(
            sorted({g for genres in content.genres for g in genre_names(genres)}), dtype=str
        )
        known = content.years[~np.isnan(content.years)]
        self.decades = np.unique((known // 10 * 10).astype(np.int64))
        names, counts = np.unique(
            content.collections[content.collections != ""].astype(str), return_counts=True
        )
        self.collections = names[counts >= 2]
        codes = self.collection_codes(content)
        firsts = np.full(len(self.collections), np.inf)
        np.fmin.at(firsts, codes[codes >= 0], content.years[codes >= 0])
        self.collection_first_years = np.where(np.isinf(firsts), np.nan, firsts)
        self.text = _fit_terms(
            [
                text_document(t, d, p.use_title)
                for t, d in zip(content.titles, content.descriptions, strict=True)
            ],
            False, p.text_dims, p.min_df, p.random_state,
        )  # fmt: skip
        self.keywords = _fit_terms(
            list(content.keywords), True, p.keyword_dims, p.min_df, p.random_state
        )
        return self

    @property
    def width(self) -> int:
        assert self.text is not None and self.keywords is not None
        return (
            len(self.genres)
            + len(self.decades)
            + 1
            + self.text.components.shape[0]
            + self.keywords.components.shape[0]
        )

    def blocks(self) -> dict[str, slice]:
        """Where each block lies in a dense row."""
        assert self.text is not None and self.keywords is not None
        sizes = {
            "genres": len(self.genres),
            "decades": len(self.decades),
            "sequel": 1,
            "text": self.text.components.shape[0],
            "keywords": self.keywords.components.shape[0],
        }
        bounds = np.cumsum([0, *sizes.values()])
        return {
            name: slice(int(start), int(stop))
            for name, start, stop in zip(sizes, bounds[:-1], bounds[1:], strict=True)
        }

    def genre_matrix(self, content: MovieContent) -> np.ndarray:
        """One row per movie: its genres, scaled to length 1 (zero for none)."""
        index = {g: i for i, g in enumerate(self.genres.tolist())}
        matrix = np.zeros((len(content), len(self.genres)))
        for row, genres in enumerate(content.genres):
            columns = [index[g] for g in genre_names(genres) if g in index]
            if columns:
                matrix[row, columns] = 1.0 / np.sqrt(len(columns))
        return matrix

    def decade_matrix(self, content: MovieContent) -> np.ndarray:
        """One row per movie: its decade (one-hot). A year after the newest decade seen counts
        as that decade, a year before the oldest as the oldest: a new release's decade is
        usually newer than every movie the mapping learned from."""
        matrix = np.zeros((len(content), len(self.decades)))
        known = ~np.isnan(content.years)
        if not len(self.decades) or not known.any():
            return matrix
        decades = (content.years[known] // 10 * 10).astype(np.int64)
        decades = decades.clip(self.decades[0], self.decades[-1])
        columns = np.searchsorted(self.decades, decades).clip(max=len(self.decades) - 1)
        hit = self.decades[columns] == decades  # False only for a decade inside with no movie
        matrix[np.flatnonzero(known)[hit], columns[hit]] = 1.0
        return matrix

    def sequel_matrix(self, content: MovieContent) -> np.ndarray:
        """One column: 1 for a movie released after its collection's first (a sequel draws
        fewer people than the film it follows, as a rule), else 0."""
        codes = self.collection_codes(content)
        later = np.zeros((len(content), 1))
        member = codes >= 0
        first = self.collection_first_years[codes[member]]
        later[np.flatnonzero(member), 0] = content.years[member] > first  # False for NaN
        return later

    def collection_codes(self, content: MovieContent) -> np.ndarray:
        if not len(self.collections):
            return np.full(len(content), -1, dtype=np.int64)
        names = content.collections.astype(str)
        codes = np.searchsorted(self.collections, names).clip(max=len(self.collections) - 1)
        return np.where(self.collections[codes] == names, codes, -1).astype(np.int64)

    def transform(self, content: MovieContent) -> ContentFeatures:
        assert self.text is not None and self.keywords is not None
        p = self.params
        parts = [
            self.genre_matrix(content) * p.genre_weight,
            self.decade_matrix(content) * p.decade_weight,
            self.sequel_matrix(content),
        ]
        documents = [
            text_document(t, d, p.use_title)
            for t, d in zip(content.titles, content.descriptions, strict=True)
        ]
        for block, documents_, weight in (
            (self.text, documents, p.text_weight),
            (self.keywords, list(content.keywords), p.keyword_weight),
        ):
            if block.components.shape[0]:
                parts.append(np.asarray(block.tfidf(documents_) @ block.components.T) * weight)
        return ContentFeatures(
            dense=np.hstack(parts) if parts else np.zeros((len(content), 0)),
            collections=self.collection_codes(content),
            n_collections=len(self.collections),
        )
