"""Shared test set-up: never touch the network; the fixtures several test modules use."""

import os

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
