"""Reading and preparing MovieLens files: titles, joins, and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import ML_SMALL, TMDB_SAMPLE, make_movielens, requires_movielens
from movierec.data import DataError
from movierec.data.load import prepare
from movierec.data.movielens import read_movies, read_ratings, split_titles


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        ("Shawshank Redemption, The (1994)", "The Shawshank Redemption", 1994),
        ("Good, the Bad and the Ugly, The (1966)", "The Good, the Bad and the Ugly", 1966),
        (
            "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)",
            "The Good, the Bad and the Ugly",
            1966,
        ),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children",
            1995,
        ),
        ("Supercop 2 (Project S) (Chao ji ji hua) (1993)", "Supercop 2", 1993),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
        ("Avventura, L' (1960)", "L'Avventura", 1960),
        ("Few Good Men, A (1992)", "A Few Good Men", 1992),
        ("Babylon 5", "Babylon 5", None),
        ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", 2006),
        ("Seven (a.k.a. Se7en) (1995)", "Seven", 1995),
        ("Homme et une femme, Un (1966) ", "Un Homme et une femme", 1966),
    ],
)
def test_titles_read_the_way_people_say_them(raw: str, title: str, year: int | None) -> None:
    prepared = split_titles(pd.Series([raw]))
    assert prepared["title"].iloc[0] == title
    assert (None if pd.isna(prepared["year"].iloc[0]) else prepared["year"].iloc[0]) == year


def _broken_copy(tmp_path: Path, source: Path, file: str, line: int, new_line: str) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(source, folder)
    lines = (folder / file).read_text().splitlines()
    lines[line - 1] = new_line
    (folder / file).write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    ("line", "content", "message"),
    [
        (5, "1,10,four,1500000000", r"ratings\.csv:5: column rating: not a valid number: 'four'"),
        (7, "x,10,4.0,1500000000", r"ratings\.csv:7: column userId"),
        (3, "1,10,4.0,15000.5", r"ratings\.csv:3: column timestamp"),
        (4, "1,10,7.0,1500000000", r"ratings\.csv:4: column rating: 7\.0 is not a half star"),
        (6, "1,10,3.3,1500000000", r"ratings\.csv:6: column rating: 3\.3 is not a half star"),
    ],
)
def test_bad_rating_lines_are_named(
    tmp_path: Path, small_movielens: Path, line: int, content: str, message: str
) -> None:
    folder = _broken_copy(tmp_path, small_movielens, "ratings.csv", line, content)
    with pytest.raises(DataError, match=message):
        read_ratings(folder)


def test_missing_file_and_column_are_named(tmp_path: Path, small_movielens: Path) -> None:
    with pytest.raises(DataError, match=r"ratings\.csv: file not found"):
        read_ratings(tmp_path)
    folder = _broken_copy(tmp_path, small_movielens, "movies.csv", 1, "movieId,name,genres")
    with pytest.raises(DataError, match=r"movies\.csv: missing column\(s\) title"):
        read_movies(folder)


def test_duplicate_rating_and_unknown_movie_are_named(tmp_path: Path) -> None:
    folder = make_movielens(tmp_path / "a", n_users=3, n_movies=5)
    ratings = (folder / "ratings.csv").read_text().splitlines()
    (folder / "ratings.csv").write_text("\n".join([*ratings, ratings[1]]) + "\n")
    with pytest.raises(DataError, match=rf"ratings\.csv:{len(ratings) + 1}: a second rating"):
        read_ratings(folder)
    folder = make_movielens(tmp_path / "b", n_users=3, n_movies=5)
    with (folder / "ratings.csv").open("a") as handle:
        handle.write("1,999999,4.0,1500000000\n")
    lines = len((folder / "ratings.csv").read_text().splitlines())
    with pytest.raises(DataError, match=rf"ratings\.csv:{lines}: movieId 999999 is not in"):
        prepare(folder)


def test_links_fill_external_ids(small_movielens: Path) -> None:
    movies = read_movies(small_movielens).set_index("movie_id")
    links = pd.read_csv(small_movielens / "links.csv", dtype=str).set_index("movieId")
    first = int(links.index[1])
    assert movies.loc[first, "imdb_id"] == "tt" + links.loc[str(first), "imdbId"]
    assert movies.loc[first, "tmdb_id"] == int(links.loc[str(first), "tmdbId"])
    without_tmdb = int(links.index[links["tmdbId"].isna()][0])
    assert pd.isna(movies.loc[without_tmdb, "tmdb_id"])
    assert movies["description"].isna().all()


@requires_movielens(metadata=True)
def test_metadata_fills_descriptions_through_links() -> None:
    movies = read_movies(ML_SMALL, TMDB_SAMPLE).set_index("movie_id")
    metadata = pd.read_csv(TMDB_SAMPLE, usecols=["id", "overview"], dtype=str)
    overview_by_tmdb = dict(zip(metadata["id"], metadata["overview"], strict=True))
    toy_story = movies.loc[1]
    assert toy_story["description"] == overview_by_tmdb[str(toy_story["tmdb_id"])].strip()
    unmatched = movies[~movies["tmdb_id"].astype("string").isin(metadata["id"])]
    assert len(unmatched) > 0 and unmatched["description"].isna().all()
    assert movies.loc[318, "title"] == "The Shawshank Redemption"
    assert movies.loc[318, "year"] == 1994


def test_metadata_missing_columns_is_an_error(tmp_path: Path, small_movielens: Path) -> None:
    bad = tmp_path / "meta.csv"
    bad.write_text("id,plot\n1,x\n")
    with pytest.raises(DataError, match=r"meta\.csv: missing column\(s\) overview"):
        read_movies(small_movielens, bad)


@requires_movielens()
def test_tmdb_sample_and_tags_give_collections_and_keywords() -> None:
    movies = read_movies(ML_SMALL, TMDB_SAMPLE).set_index("movie_id")
    saga = movies[movies["collection"] == "Star Wars Collection"]
    assert {260, 1196, 1210} <= set(saga.index)  # Episodes IV-VI
    tags = pd.read_csv(ML_SMALL / "tags.csv")
    assert movies["keywords"].notna().sum() == tags["movieId"].nunique()
    pulp = json.loads(movies.loc[296, "keywords"])
    assert len(pulp) == len(set(pulp)) <= 50 and all(k == k.casefold() for k in pulp)


def test_metadata_fields_in_the_forms_found_in_the_wild(tmp_path: Path) -> None:
    from movierec.data.movielens import read_metadata

    path = tmp_path / "meta.csv"
    pd.DataFrame(
        {
            "id": ["1", "2", "1997-08-20", "3"],
            "belongs_to_collection": ["{'id': 1, 'name': \"Ocean's Collection\"}", "", "", "{bad"],
            "genres": ['[{"id": 878, "name": "Science Fiction"}]', "Family|Foreign", "", ""],
            "keywords": ["", "Heist | Las Vegas|heist", "", "[1, 2"],
        }
    ).to_csv(path, index=False)
    details = read_metadata(path)
    assert details.index.tolist() == [1, 2, 3]  # the shifted row is skipped
    assert details.loc[1, "collection"] == "Ocean's Collection"
    assert details.loc[1, "genres"] == "Sci-Fi"
    assert details.loc[2, "genres"] == "Children"  # Foreign has no MovieLens name
    assert details.loc[2, "keywords"] == ["heist", "las vegas"]
    assert details.loc[3, "collection"] is None and details.loc[3, "keywords"] is None
    assert details.loc[3, "description"] is None
