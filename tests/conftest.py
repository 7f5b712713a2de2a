"""Shared test set-up: never touch the network; the fixtures several test modules use."""

import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402  (after the offline switches)
import torch  # noqa: E402

from bertedu.tokenization import load_tokenizer  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded bert-base-uncased tokenizer, loaded once (change it only in a copy)."""
    return load_tokenizer()


@pytest.fixture
def one_thread():
    """Small models gain nothing from a second thread, and lose a lot when the CPU is shared.

    Use it module-wide with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, as scripts/check_book.py launches it; a failure under CI when absent."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Chromium is not installed: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from book_scripts import check_book
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=check_book.CHROMIUM_FLAGS
        )
        yield launched
        launched.close()
