"""Screenshots of the web page for the README and docs, from a running service.

    movierec demo --source ../shared/data/ml-latest-small.zip &
    python docs/screenshots.py --base-url http://127.0.0.1:8000 [--user 51] [--out docs/screenshots]

Drives the distribution's Chromium (``apt-get install chromium``) with Playwright: the start
page, a user's recommendations after rating one of them (the list folded in at once), a movie
page, the top movies filtered by genre, the operator page, and the user page at a phone's width.
It rates one movie for that user: point it at a demo, not at a service people use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def shoot(page: Page, out: Path, name: str, full_page: bool = False) -> None:
    page.wait_for_load_state("networkidle")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", type=int, default=51)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    base = options.base_url.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=options.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        shoot(page, options.out, "home")
        page.goto(f"{base}/users/{options.user}")
        expect(page.locator("#recommendations .card").first).to_be_visible()
        first = page.locator("#recommendations .card").first
        first.locator("select").select_option("4.5")
        first.get_by_role("button", name="Rate").click()
        expect(page.locator("#status")).to_contain_text("Rated")
        shoot(page, options.out, "user")
        page.locator("#recommendations .card .title").nth(1).click()
        expect(page.locator("#similar .card").first).to_be_visible()
        shoot(page, options.out, "movie")
        page.goto(f"{base}/top?genres=Comedy&year_min=1990&year_max=2010")
        expect(page.locator("#top-movies .card").first).to_be_visible()
        shoot(page, options.out, "top")
        page.goto(base + "/operator")
        expect(page.locator("#current-model dd").first).to_be_visible()
        shoot(page, options.out, "operator", full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844})
        phone.goto(f"{base}/users/{options.user}")
        expect(phone.locator("#recommendations .card").first).to_be_visible()
        shoot(phone, options.out, "phone")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
