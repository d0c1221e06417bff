"""The web page's "Because you just watched ..." in a real browser, against a live
``movierec serve`` over the small data set refreshed with RANKER=sequential (the opening act
and its sequel of ``test_recommendations_just_watched``); as ``test_web_browser``, it fails on
any console error and needs Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import empty_database
from movierec.cache import CacheStore
from movierec.config import Settings
from movierec.db import Database
from test_recommendations_just_watched import (
    FAN,
    OPENING,
    add_the_opening_act_and_its_sequel,
)
from test_serve import service_env
from test_web_browser import Console, _served, browser, card_titles, console, page

pytestmark = pytest.mark.slow
# The browser, page and console fixtures are test_web_browser's: named here, so that pytest
# finds them in this module and the linter sees them used.
__all__ = ["browser", "console", "page"]


@pytest.fixture(scope="module")
def sequential_site(
    settings: Settings,
    session_db: Database,
    small_movielens: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    from movierec.data.load import load_movielens
    from movierec.jobs.refresh import refresh_recommendations, refresh_statistics

    empty_database(session_db)
    cache = CacheStore.from_settings(settings)
    for key in cache.client.scan_iter(match=cache.key("*"), count=1000):
        cache.client.delete(key)
    load_movielens(session_db, str(small_movielens), show_progress=False)
    add_the_opening_act_and_its_sequel(session_db)
    sequential = settings.model_copy(
        update={"model_n_factors": 8, "model_n_epochs": 10, "ranker": "sequential"}
    )
    refresh_statistics(session_db, cache, sequential)
    refresh_recommendations(session_db, cache, sequential)
    cache.close()
    env = {**service_env(settings), "RANKER": "sequential"}
    yield from _served(env, tmp_path_factory.mktemp("sequential-web"))
    empty_database(session_db)


def _reason(page: Page, title: str) -> str:
    card = page.locator("#recommendations .card", has=page.get_by_role("link", name=title))
    return card.locator(".because").inner_text()


def test_a_recommendation_that_follows_the_movie_just_watched_says_so(
    sequential_site: str, page: Page, console: Console
) -> None:
    page.goto(f"{sequential_site}/users/{FAN}")
    expect(page.locator("#recs-source")).to_contain_text("as of the last refresh")
    assert "The Sequel" in card_titles(page, "recommendations")
    assert _reason(page, "The Sequel") == "Because you just watched The Opening Act"
    # The others read as before: the liked movies most similar to them.
    reasons = page.locator("#recommendations .because").all_inner_texts()
    assert any(reason.startswith("Because you liked ") for reason in reasons), reasons
    assert console.unexpected() == []


def test_rating_the_opening_act_brings_its_sequel_because_of_it(
    sequential_site: str, page: Page, console: Console
) -> None:
    # A user who has not rated it yet rates it from its page; their list, folded in at once,
    # holds the sequel "because you just watched" it.
    user = 45
    page.goto(f"{sequential_site}/users/{user}")
    card_titles(page, "recommendations")
    page.goto(f"{sequential_site}/movies/{OPENING}")
    page.get_by_label("Your rating of The Opening Act", exact=True).select_option("4.5")
    page.get_by_role("button", name="Rate: The Opening Act", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Rated “The Opening Act” 4.5 ★")
    page.goto(f"{sequential_site}/users/{user}")
    page.wait_for_url(re.compile(rf"/users/{user}$"))
    expect(page.locator("#recs-source")).to_contain_text("updated just now")
    assert "The Sequel" in card_titles(page, "recommendations")
    assert _reason(page, "The Sequel") == "Because you just watched The Opening Act"
    assert console.unexpected() == []
