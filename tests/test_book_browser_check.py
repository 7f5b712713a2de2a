"""scripts/check_book.py's page loading: a page that never settles is a finding, not a crash.

CI once died inside Playwright's ``networkidle`` wait on chapter 1 (a 30 s timeout,
raised out of the whole check). These tests hold a request open on purpose and
check what the loader waits for, reports and retries.
"""

from __future__ import annotations

import pytest
from book_scripts import check_book

STALLED = "stalled.png"


STALLS = {
    "none": "",
    "image": f'<img src="{STALLED}">',  # holds back the load event itself
    "fetch after load": f"<script>addEventListener('load', () => fetch('{STALLED}'))</script>",
}


def write_page(tmp_path, stall: str = "none"):
    path = tmp_path / "page.html"
    path.write_text(f"<!doctype html><html><body><p>text</p>{STALLS[stall]}</body></html>")
    return path


@pytest.fixture
def page(browser):
    opened = browser.new_page()
    yield opened
    opened.close()


def hold_open(page) -> list[str]:
    """Never answer requests for the stalled image; the URLs held (one per load)."""
    held: list[str] = []
    page.route(f"**/{STALLED}", lambda route: held.append(route.request.url))
    return held


def test_a_plain_page_settles(page, tmp_path):
    tracker = check_book.RequestTracker(page)
    page.goto(write_page(tmp_path).as_uri())
    assert tracker.settle(timeout_s=10) == []
    assert tracker.pending == {}


def test_a_request_in_flight_is_named_when_the_wait_ends(page, tmp_path):
    held = hold_open(page)
    tracker = check_book.RequestTracker(page)
    page.goto(write_page(tmp_path).as_uri())
    page.evaluate(f"() => {{ fetch('{STALLED}'); }}")  # after load, as a lazy script would
    pending = tracker.settle(timeout_s=1.5)
    assert len(held) == 1
    assert [url.rsplit("/", 1)[-1] for url in pending] == [STALLED]


def test_a_page_that_never_settles_is_loaded_twice_then_reported(page, tmp_path, capsys):
    held = hold_open(page)
    path = write_page(tmp_path, "fetch after load")
    problems = check_book.load_settled(page, path, timeout_s=1.5)
    assert len(held) == 2  # the retry loaded it again
    assert "page.html: still loading after 2 s" in capsys.readouterr().out
    assert problems == [f"still loading after 2 s: {path.parent.as_uri()}/{STALLED}"]


def test_a_page_without_a_load_event_is_loaded_twice_then_reported(page, tmp_path, capsys):
    held = hold_open(page)
    problems = check_book.load_settled(page, write_page(tmp_path, "image"), timeout_s=1.5)
    assert len(held) == 2
    assert "loading it again" in capsys.readouterr().out
    assert problems == ["no load event after 2 s"]


def test_a_page_that_settles_has_no_load_problem(page, tmp_path, capsys):
    assert check_book.load_settled(page, write_page(tmp_path), 10) == []
    assert capsys.readouterr().out == ""


def test_a_playwright_error_in_a_check_is_a_finding_of_that_page(browser, tmp_path, monkeypatch):
    from playwright.sync_api import Error as PlaywrightError

    def failing_checks(page, page_path, screenshots):
        raise PlaywrightError("Timeout 30000ms exceeded.\ncall log: ...")

    monkeypatch.setattr(check_book, "page_problems", failing_checks)
    problems = check_book.check_page(browser, write_page(tmp_path), None)
    assert problems == ["the check of this page failed: Timeout 30000ms exceeded."]
