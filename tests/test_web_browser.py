"""The web page in a real browser: headless Chromium (the distribution's package) driven by
Playwright, against a live ``movierec serve`` over the small data set with a refresh published.

Skipped when Chromium is not installed, unless MOVIEREC_REQUIRE_BROWSER=1 (``.ci/run`` sets it
and installs Chromium): then a missing browser is a failure. Every test fails on a JavaScript
error or a console error the flow did not expect.
"""

from __future__ import annotations

import http.client
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import text

from conftest import WRITE_KEYS, empty_database, rated_movies
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from process_helpers import serve, wait_until_ready
from test_serve import service_env

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("MOVIEREC_CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a container, with nothing reaching out to the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_KEY = "browser-admin-key"
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("MOVIEREC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _publish(settings: Settings, database: Database, small_movielens: Path) -> None:
    from movierec.data.load import load_movielens
    from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

    empty_database(database)
    cache = CacheStore.from_settings(settings)
    for key in cache.client.scan_iter(match=cache.key("*"), count=1000):
        cache.client.delete(key)
    load_movielens(database, str(small_movielens), show_progress=False)
    fast = settings.model_copy(update={"model_n_factors": 8, "model_n_epochs": 10})
    refresh_statistics(database, cache, fast)
    refresh_recommendations(database, cache, fast)
    cache.close()


def _served(env: dict[str, str], log_dir: Path) -> Iterator[str]:
    server, base_url = serve(env, log_dir)
    try:
        wait_until_ready(base_url, server, timeout=60)
        yield base_url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site(
    settings: Settings,
    session_db: Database,
    small_movielens: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The open service (no keys, as the demo) over the small data set, refreshed."""
    _publish(settings, session_db, small_movielens)
    yield from _served(service_env(settings), tmp_path_factory.mktemp("web"))
    empty_database(session_db)


@pytest.fixture(scope="module")
def keyed_site(
    site: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second server over the same data with write and admin keys."""
    env = {**service_env(settings), "API_KEYS": ",".join(WRITE_KEYS), "ADMIN_API_KEYS": ADMIN_KEY}
    yield from _served(env, tmp_path_factory.mktemp("keyed-web"))


class Console:
    """What the page reported: console errors and uncaught exceptions."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.errors: list[str] = []
        page.on("console", self._console)

        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error":
            self.errors.append(message.text)

    def unexpected(self, *allowed_statuses: int) -> list[str]:
        # A fetch answered 4xx on purpose is logged by Chromium itself as a failed resource.
        allowed = [f"status of {status} " for status in allowed_statuses]
        return [error for error in self.errors if not any(a in error for a in allowed)]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def console(page: Page) -> Console:
    return Console(page)


def card_titles(page: Page, list_id: str) -> list[str]:
    """The titles of a list of cards, once the page has filled it."""
    page.wait_for_selector(f"#{list_id}[aria-busy=false]", state="attached")
    return page.locator(f"#{list_id} .card .title").all_inner_texts()


def movie_id_of(page: Page, list_id: str, title: str) -> int:
    card = page.locator(f"#{list_id} .card", has=page.get_by_role("link", name=title, exact=True))
    return int(card.first.get_attribute("data-movie-id"))


def user_count(database: Database) -> int:
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM users")).scalar_one()


def test_a_new_user_rates_watches_and_dismisses_and_the_list_follows_at_once(
    site: str, page: Page, console: Console, session_db: Database
) -> None:
    users_before = user_count(session_db)
    page.goto(site + "/")
    page.get_by_label("Year of birth (optional)").fill("1990")
    page.get_by_role("button", name="Create my user").click()
    page.wait_for_url(re.compile(r"/users/\d+$"))
    user_id = int(page.url.rsplit("/", 1)[1])
    assert user_count(session_db) == users_before + 1
    expect(page.locator("#recs-source")).to_contain_text("most popular")
    expect(page.locator("#recommendations .card")).to_have_count(12)
    expect(page.locator("#ratings")).to_contain_text("No ratings yet")

    # Rate the first recommendation with half stars: it leaves the list, which is now folded in.
    first = card_titles(page, "recommendations")[0]
    rated_id = movie_id_of(page, "recommendations", first)
    page.get_by_label(f"Your rating of {first}", exact=True).select_option("4.5")
    page.get_by_role("button", name=f"Rate: {first}", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Rated “{first}” 4.5 ★")
    expect(page.locator("#recs-source")).to_contain_text("updated just now")
    expect(page.locator("#ratings")).to_contain_text(first)
    assert first not in card_titles(page, "recommendations")
    assert rated_movies(session_db, user_id) == {rated_id}

    # Watched: an implicit rating; not interested: never recommended again.
    watched = card_titles(page, "recommendations")[0]
    page.get_by_role("button", name=f"Watched: {watched}", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Marked “{watched}” as watched")
    expect(page.locator("#ratings li", has_text=watched)).to_contain_text("watched")
    dismissed = card_titles(page, "recommendations")[0]
    page.get_by_role("button", name=f"Not interested: {dismissed}", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"“{dismissed}” will not be recommended")
    expect(page.locator("#dismissed")).to_contain_text(dismissed)
    titles = card_titles(page, "recommendations")
    assert not {first, watched, dismissed} & set(titles)
    assert len(rated_movies(session_db, user_id)) == 2

    # Removing the rating and undoing the dismissal: both are written, and shown.
    page.get_by_role("button", name=f"Remove your rating of {first}", exact=True).click()
    expect(page.locator("#status")).to_contain_text(f"Removed your rating of “{first}”")
    page.get_by_role("button", name=f"Recommend {dismissed} again", exact=True).click()
    expect(page.locator("#dismissed")).to_contain_text("Nothing dismissed")
    assert first not in page.locator("#ratings .rows a, #ratings a").all_inner_texts()
    assert rated_movies(session_db, user_id) == {movie_id_of_db(session_db, watched)}
    assert console.unexpected() == []


def movie_id_of_db(database: Database, title: str) -> int:
    with database.engine.connect() as connection:
        return connection.execute(
            text("SELECT movie_id FROM movies WHERE title = :title"), {"title": title}
        ).scalar_one()


def test_an_existing_user_sees_model_recommendations_with_reasons_and_predictions(
    site: str, page: Page, console: Console, session_db: Database
) -> None:
    page.goto(site + "/")
    page.get_by_label("User id").fill("3")
    page.get_by_role("button", name="Show my recommendations").click()
    page.wait_for_url(re.compile(r"/users/3$"))
    expect(page.locator("#recs-source")).to_contain_text("as of the last refresh")
    cards = page.locator("#recommendations .card")
    expect(cards).to_have_count(12)
    expect(cards.first.locator(".figures")).to_contain_text("you would rate it about")
    expect(page.locator("#recommendations .because").first).to_contain_text(
        re.compile("Because you (liked|just watched)")
    )
    # Every rating of the user is listed (at most 50), none of them recommended.
    rated = rated_movies(session_db, 3)
    expect(page.locator("#ratings li")).to_have_count(min(len(rated), 50))
    recommended = {int(m) for m in cards.evaluate_all("cards => cards.map(c => c.dataset.movieId)")}
    assert recommended and not recommended & rated
    # The header now leads back to this user's page from anywhere.
    page.goto(site + "/top")
    expect(page.get_by_role("link", name="My recommendations (user 3)")).to_be_visible()

    page.goto(site + "/")
    page.get_by_label("User id").fill("99999")
    page.get_by_role("button", name="Show my recommendations").click()
    expect(page.locator("#status")).to_contain_text("user 99999 not found")
    assert page.url.endswith("/")
    assert console.unexpected(404) == []


def test_search_then_a_movie_page_with_statistics_and_similar_movies(
    site: str, page: Page, console: Console, session_db: Database
) -> None:
    page.goto(site + "/")
    # Words in any order: the file's "Movie 10, The (1950)" is "The Movie 10" (1950) here.
    page.get_by_label("Search movies").fill("10 movie the")
    page.get_by_label("Search movies").press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    titles = card_titles(page, "results")
    assert "The Movie 10" in titles
    assert all("10" in title and "the" in title.lower() for title in titles)
    page.get_by_role("link", name="The Movie 10", exact=True).click()
    page.wait_for_url(re.compile(r"/movies/10$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("The Movie 10")
    with session_db.engine.connect() as connection:
        query = text("SELECT count(*) FROM ratings WHERE movie_id = 10")
        votes = connection.execute(query).scalar_one()
    expect(page.locator("#movie-stats")).to_contain_text(f"Votes{votes}")
    expect(page.locator("#similar .card")).to_have_count(10)
    assert "The Movie 10" not in card_titles(page, "similar")
    # Each with its similarity and the votes it rests on.
    figures = page.locator("#similar .card .figures").all_inner_texts()
    assert all(re.fullmatch(r"similarity -?\d\.\d\d · [\d,]+ votes", f) for f in figures), figures

    page.goto(site + "/search?q=zzzz")
    expect(page.locator("#results")).to_contain_text("No title has all these words")
    assert console.unexpected() == []


def test_top_movies_by_genre_and_year(site: str, page: Page, console: Console) -> None:
    page.goto(site + "/top")
    expect(page.locator("#top-movies .card")).to_have_count(50)
    page.get_by_label("Genre").select_option("Comedy")
    page.get_by_label("From year").fill("1960")
    page.get_by_label("To year").fill("1990")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"genres=Comedy"))
    cards = page.locator("#top-movies .card")
    expect(cards.first.locator(".genres")).to_contain_text("Comedy")
    genres = cards.locator(".genres").all_inner_texts()
    years = [int(y.strip("()")) for y in cards.locator(".year").all_inner_texts()]
    assert genres and all("Comedy" in g for g in genres)
    assert all(1960 <= year <= 1990 for year in years)
    # The filters are in the address: a reload shows the same list (read once the reloaded
    # page has filled it, not while it is still empty).
    shown = card_titles(page, "top-movies")
    page.reload()
    expect(page.get_by_label("Genre")).to_have_value("Comedy")
    assert card_titles(page, "top-movies") == shown
    assert console.unexpected() == []


def test_operator_page_shows_the_served_model_and_refreshes(
    site: str, page: Page, console: Console, settings: Settings
) -> None:
    status = requests.get(site + "/api/v1/admin/status", timeout=10).json()
    page.goto(site + "/operator")
    model = page.locator("#current-model")
    expect(model).to_contain_text(status["current_model"]["version"])
    expect(model).to_contain_text("sequential")
    expect(page.locator("#runs tbody tr").first).to_contain_text("succeeded")
    expect(page.locator("#versions")).to_contain_text(status["versions"]["statistics"])
    expect(page.locator("#evaluation-summary")).to_contain_text("None recorded")
    assert page.locator("main button").count() == 0  # read-only: nothing to press
    assert console.unexpected() == []


def test_with_keys_writes_and_the_operator_page_use_the_key_the_person_enters(
    keyed_site: str, page: Page, console: Console
) -> None:
    page.goto(keyed_site + "/users/3")
    first = card_titles(page, "recommendations")[0]
    page.get_by_role("button", name=f"Watched: {first}", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Enter a valid API key")
    html = page.content()
    assert WRITE_KEYS[0] not in html and ADMIN_KEY not in html  # no key is ever in the page

    page.get_by_text("API key (none)").click()
    page.get_by_label(re.compile("^API key for changes")).fill(WRITE_KEYS[0])
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#key-state")).to_have_text("(set for this tab)")
    page.get_by_role("button", name=f"Watched: {first}", exact=True).click()
    expect(page.locator("#ratings")).to_contain_text(first)

    page.goto(keyed_site + "/operator")  # a write key is not an admin key
    expect(page.locator("#status")).to_contain_text("Enter a valid API key")
    page.get_by_text("API key (set for this tab)").click()
    page.get_by_label(re.compile("^API key for changes")).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use this key").click()
    expect(page.locator("#current-model")).to_contain_text("sequential")
    assert console.unexpected(401, 403) == []


def test_an_operator_adds_a_movie_edits_it_and_retires_it_from_its_page(
    keyed_site: str, page: Page, console: Console, session_db: Database
) -> None:
    page.goto(keyed_site + "/operator")
    page.get_by_role("link", name="add a movie").click()
    page.wait_for_url(re.compile(r"/movies/new$"))
    page.get_by_text("API key (none)").click()
    page.get_by_label(re.compile("^API key for changes")).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use this key").click()
    page.get_by_label("Title").fill("A Browser Film")
    page.get_by_label("Year (optional)").fill("2025")
    page.get_by_label("Drama", exact=True).check()
    page.get_by_label("Comedy", exact=True).check()
    page.get_by_label("Description (optional)").fill("Two friends cross the country by bus.")
    page.get_by_label(re.compile("^Collection or franchise")).fill("Browser Collection")
    page.get_by_label(re.compile("^Keywords")).fill("Road trip, friendship")
    page.get_by_role("button", name="Add the movie").click()
    page.wait_for_url(re.compile(r"/movies/\d+$"))
    movie_id = int(page.url.rsplit("/", 1)[1])
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("A Browser Film")
    expect(heading.locator(".badge.new")).to_be_visible()  # nobody rated it: new
    expect(page.locator("#movie-about")).to_contain_text("Browser Collection")
    expect(page.locator("#movie-about")).to_contain_text("road trip, friendship")
    expect(page.locator("#movie .genres")).to_contain_text("Comedy · Drama")
    # Placed by its content at once: it has similar movies before any refresh.
    expect(page.locator("#similar .card")).to_have_count(10)

    page.get_by_text("Edit this movie").click()
    expect(page.get_by_label("Title")).to_have_value("A Browser Film")
    expect(page.get_by_label("Drama", exact=True)).to_be_checked()
    page.get_by_label("Title").fill("A Browser Film, Revised")
    page.get_by_label("Comedy", exact=True).uncheck()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#status")).to_contain_text("Saved “A Browser Film, Revised”")
    expect(heading).to_contain_text("A Browser Film, Revised")
    with session_db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT title, genres, retired_at FROM movies WHERE movie_id = :m"),
            {"m": movie_id},
        ).one()
    assert (row.title, row.genres, row.retired_at) == ("A Browser Film, Revised", "Drama", None)

    page.get_by_role("button", name="Retire this movie").click()
    page.get_by_role("button", name="Yes, retire it for good").click()
    expect(page.locator("#status")).to_contain_text("is retired")
    expect(heading.locator(".badge.retired")).to_be_visible()
    with session_db.engine.connect() as connection:
        retired = connection.execute(
            text("SELECT retired_at FROM movies WHERE movie_id = :m"), {"m": movie_id}
        ).scalar_one()
    assert retired is not None
    assert console.unexpected(401) == []  # the operator page, before the key was entered


def test_pages_are_usable_by_keyboard_and_at_phone_width(site: str, browser: Browser) -> None:
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    console = Console(tab)
    try:
        for path in (
            "/", "/users/3", "/movies/10", "/movies/new", "/top", "/search?q=movie", "/operator",
        ):  # fmt: skip
            tab.goto(site + path)
            tab.wait_for_load_state("networkidle")
            # Nothing wider than the phone: no sideways scrolling of the page itself.
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width}px wide"
            unlabelled = tab.evaluate(
                """() => [...document.querySelectorAll('input, select, button')]
                    .filter(el => el.offsetParent !== null)
                    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                                  && !el.textContent.trim())
                    .map(el => el.outerHTML)"""
            )
            assert unlabelled == [], f"{path}: controls without a label: {unlabelled}"
        # The first Tab reaches the skip link, which moves the focus to the content.
        tab.goto(site + "/users/3")
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.textContent") == "Skip to content"
        tab.keyboard.press("Enter")
        assert tab.evaluate("document.activeElement.id") == "main"
        # A rating by keyboard alone: focus the menu, choose, submit with Enter.
        expect(tab.locator("#recommendations .card")).to_have_count(12)
        select = tab.locator("#recommendations select").first
        select.focus()
        select.select_option("3.5")
        tab.keyboard.press("Tab")  # to the Rate button
        assert tab.evaluate("document.activeElement.textContent") == "Rate"
        tab.keyboard.press("Enter")
        expect(tab.locator("#status")).to_contain_text("3.5 ★")
        assert console.unexpected() == []
    finally:
        context.close()


def test_a_click_on_a_recommendation_is_counted_and_the_operator_page_shows_the_arms(
    site: str, page: Page, console: Console, settings: Settings, session_db: Database
) -> None:
    from movierec.jobs.impressions import drain
    from process_helpers import wait_until

    page.goto(site + "/users/12")
    title = page.locator("#recommendations .title").first
    expect(title).not_to_be_empty()
    movie_id = int(title.get_attribute("href").rsplit("/", 1)[1])
    title.click()  # opens the movie's page; the click is reported on the way
    expect(page.locator("#movie h1")).not_to_be_empty()
    cache = CacheStore.from_settings(settings)

    def clicked() -> bool:  # the web processes flush within half a second; the drain is ours
        # Settled for a second, as the service settles outcomes: the answer that showed the movie
        # may wait in another worker's buffer a little longer than the click does in its own,
        # and an outcome attributed before its answer arrived stays unattributed.
        drain(session_db, cache, settings, settle_seconds=1.0)
        with session_db.engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT o.impression_id IS NOT NULL FROM impression_outcomes o "
                    "WHERE o.user_id = 12 AND o.movie_id = :m AND o.kind = 'clicked'"
                ),
                {"m": movie_id},
            ).all()
        return found == [(True,)]  # once, and counted for the answer that showed it

    try:
        wait_until(clicked, timeout=20, what="the click to reach the database")
    finally:
        cache.close()
    page.goto(site + "/operator")
    row = page.locator("#online tbody tr").first
    expect(row).to_contain_text("sequential")
    expect(page.locator("#online-plots svg")).to_have_count(7)
    expect(page.locator("#online-summary")).to_contain_text("bootstrap resamples of users")


DESKTOP = {"width": 1280, "height": 800}


def test_the_api_style_address_of_a_movie_or_user_opens_its_page(
    site: str, page: Page, console: Console
) -> None:
    page.goto(site + "/movie/10")
    page.wait_for_url(re.compile(r"/movies/10$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("The Movie 10")
    page.goto(site + "/user/3")
    page.wait_for_url(re.compile(r"/users/3$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("User 3")
    # A client asking for JSON is not sent to a page: a 404 that says where the API is; the
    # API itself is unchanged.
    answer = requests.get(site + "/movie/10", headers={"Accept": "application/json"}, timeout=10)
    assert answer.status_code == 404 and "/api/v1/movie/10" in answer.json()["error"]["message"]
    assert requests.get(site + "/api/v1/movie/10", timeout=10).json()["movie_id"] == 10
    # Under gunicorn as under the test client, an escaped id is no second URL of the movie
    # (http.client sends the path as written; requests would unescape the digits first).
    address = urlsplit(site)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", "/api/v1/movie/%310")
    assert connection.getresponse().status == 404
    connection.close()
    assert console.unexpected() == []


def test_a_rejected_filter_clears_the_list_under_the_error(
    site: str, page: Page, console: Console
) -> None:
    page.goto(site + "/top")
    expect(page.locator("#top-movies .card")).to_have_count(50)
    page.get_by_label("From year").fill("1995")
    page.get_by_label("To year").fill("1990")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#status")).to_contain_text("year_max")
    expect(page.locator("#top-movies .card")).to_have_count(0)
    expect(page.locator("#top-movies")).to_contain_text("No list for these filters")
    # Fixed filters bring a list back, and the error goes.
    page.get_by_label("To year").fill("2000")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#top-movies .card").first).to_be_visible()
    expect(page.locator("#status")).to_be_hidden()
    assert console.unexpected(400) == []


def test_at_desktop_width_the_actions_fit_and_the_status_bar_hides_no_card(
    site: str, browser: Browser
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    console = Console(tab)
    try:
        tab.goto(site + "/users/3")
        expect(tab.locator("#recommendations .card")).to_have_count(12)
        # Per card: no label broken inside a button, and "Not interested" beside "Watched",
        # not alone on a line of its own.
        rows = tab.evaluate(
            """() => [...document.querySelectorAll('#recommendations .actions')].map(form => {
                 const box = (name) => form.querySelector(`[name=${name}]`).getBoundingClientRect();
                 return {rate: box('rate'), watched: box('watched'), dismiss: box('dismiss')};
               })"""
        )
        for row in rows:
            assert row["dismiss"]["height"] <= row["rate"]["height"] * 1.3, row
            assert abs(row["dismiss"]["top"] - row["watched"]["top"]) < 1, row
        # A message while the page is scrolled to its end, and the end reached with a message
        # shown: either way the bar covers no part of the last row.
        for message_first in (False, True):
            tab.goto(site + "/users/3")
            # Every list filled: the page has its final length before it is scrolled.
            tab.wait_for_load_state("networkidle")
            expect(tab.locator("#dismissed")).to_contain_text("Nothing dismissed")
            expect(tab.locator("#ratings li").first).to_be_visible()
            if message_first:
                tab.evaluate("say('A message on the status bar.')")
            tab.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            tab.wait_for_function(
                "window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1"
            )
            if not message_first:
                tab.evaluate("say('A message on the status bar.')")
            expect(tab.locator("#status")).to_be_visible()
            last, bar = tab.locator("#dismissed li").last, tab.locator("#status")
            box, bar_box = last.bounding_box(), bar.bounding_box()
            assert box is not None and bar_box is not None
            assert box["y"] + box["height"] <= bar_box["y"] + 0.5, (message_first, box, bar_box)
        assert console.unexpected() == []
    finally:
        context.close()


def test_a_cold_start_list_reads_plainly_and_shows_averages_and_votes(
    site: str, page: Page, console: Console
) -> None:
    created = requests.put(site + "/api/v1/user", json={}, timeout=10).json()
    page.goto(f"{site}/users/{created['user_id']}")
    expect(page.locator("#recommendations .card")).to_have_count(12)
    caption = page.locator("#recs-source").inner_text()
    assert "most popular" in caption and "filled in" not in caption, caption
    figures = page.locator("#recommendations .card .figures").all_inner_texts()
    assert all(re.search(r"\d+ votes", text) for text in figures), figures
    assert any("★" in text for text in figures), figures
    assert console.unexpected() == []
