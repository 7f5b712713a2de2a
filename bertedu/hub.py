"""Turn "the Hugging Face Hub cannot be reached" into a message that says what to do."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


class HubUnavailableError(RuntimeError):
    """Raised when a hub model or dataset is requested but the hub cannot be reached."""


def hub_is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` asks for offline mode."""
    return any(
        os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


@contextlib.contextmanager
def explain_hub_errors(what: str, alternative: str) -> Iterator[None]:
    """Re-raise network/offline failures inside the block as :class:`HubUnavailableError`.

    ``what`` names the thing being loaded (``"the tokenizer 'bert-base-uncased'"``);
    ``alternative`` tells the reader what works without a network.
    ``ConnectionError`` is a subclass of ``OSError``, as are transformers' and
    huggingface_hub's "not found locally" errors, so catching ``OSError`` covers them.
    """
    try:
        yield
    except (OSError, ValueError) as error:
        mode = (
            "offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE)"
            if hub_is_offline()
            else "the Hugging Face Hub could not be reached"
        )
        raise HubUnavailableError(
            f"Could not load {what}: {mode}. {alternative} (original error: {error})"
        ) from error
