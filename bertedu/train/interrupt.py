"""Ctrl-C during training: finish the update, save a checkpoint, then stop.

A ``KeyboardInterrupt`` raised wherever Python happens to be (inside AdamW's step, half
way through a checkpoint's files) would leave the weights or the data position between
two updates, so the work since the last checkpoint is lost. While :class:`DeferredInterrupt`
is installed, the first Ctrl-C only sets :attr:`DeferredInterrupt.requested`; the loop
checks it after each update, saves a checkpoint of that update and raises
``KeyboardInterrupt`` itself, and the command says how to resume. A second Ctrl-C stops
at once (the handler is removed after the first), for a loop that no longer answers.
Outside the main thread (where Python delivers no signal) it does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class DeferredInterrupt:
    """Turns the first SIGINT into a request the loop answers between two updates."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def install(self) -> DeferredInterrupt:
        """Catch SIGINT from now on (main thread only); returns itself."""
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        return self

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.restore()  # a second Ctrl-C interrupts at once

    def restore(self) -> None:
        """Put the previous SIGINT handler back."""
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
