"""Which licence notice goes with the text a chapter shows: the one of the corpus it came from.

The embedded Wikipedia leads are CC BY-SA 4.0; WikiText (2016 Wikipedia text) is CC BY-SA 3.0
and GFDL. A chapter that can run on either shows the notice of the documents it really loaded.
"""

from __future__ import annotations

from collections.abc import Iterable

from bertedu.data.documents import Document
from bertedu.data.embedded import WIKIPEDIA_ATTRIBUTION
from bertedu.data.wikitext import WIKITEXT_ATTRIBUTION

EMBEDDED_SOURCE = "wikipedia-vital-articles"  # Document.source of the embedded corpus


def _notice(source: str) -> str | None:
    if source == EMBEDDED_SOURCE:
        return WIKIPEDIA_ATTRIBUTION
    if source.startswith("wikitext/"):
        return WIKITEXT_ATTRIBUTION
    return None


def corpus_attribution(documents: Iterable[Document]) -> str:
    """The attribution(s) of the corpora ``documents`` came from, one paragraph each.

    Raises a ``ValueError`` for documents of another source (your own text files):
    their licence is theirs to state.
    """
    notices: dict[str, None] = {}
    for source in sorted({document.source for document in documents}):
        notice = _notice(source)
        if notice is None:
            raise ValueError(
                f"No known licence for documents from {source!r}: state the licence of your own "
                "text yourself (the book knows the embedded Wikipedia leads and WikiText)."
            )
        notices[notice] = None
    if not notices:
        raise ValueError("No documents given: nothing to attribute.")
    return "\n\n".join(notices)
