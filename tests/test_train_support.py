"""Shared by the tests/test_train_*.py modules (import the fixture to use it; no tests here)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Small models gain nothing from a second thread, and lose a lot when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
