"""Documents from WikiText-2 / WikiText-103 (Merity et al. 2016) on the Hugging Face Hub.

WikiText is Wikipedia's Good and Featured articles, one line per paragraph or
heading. An article starts at a top-level heading `` = Title = ``; section
headings (`` = = Section = = ``, deeper with more ``=``) stay inside it, so the
article, not the section, is the document. The "raw" configurations keep the
original words (no ``<unk>``), which is what a WordPiece tokenizer wants, but
numbers are written ``1 @,@ 000`` and ``3 @.@ 14``: those are joined back
before sentence splitting, or "3 @.@ 14" would read as the end of a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from bertedu.data.documents import Document, require_documents
from bertedu.data.sentences import split_many
from bertedu.hub import explain_hub_errors

WIKITEXT_CONFIGS = ("wikitext-2-raw-v1", "wikitext-103-raw-v1")
#: The dataset's canonical name on the Hugging Face Hub (the bare ``wikitext`` is an alias).
WIKITEXT_HUB_NAME = "Salesforce/wikitext"
#: Show this wherever text from WikiText is shown (its licence differs from the embedded corpus's).
WIKITEXT_ATTRIBUTION = (
    "The text is from WikiText (Merity, Xiong, Bradbury and Socher 2016, "
    '"Pointer Sentinel Mixture Models", https://arxiv.org/abs/1609.07843), '
    "Wikipedia's Good and Featured articles, by Wikipedia contributors, dual-licensed under "
    "CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/) and the GNU Free "
    "Documentation License; read from the Hugging Face Hub dataset Salesforce/wikitext. Text "
    "shown from it is shared under the same licences."
)
_ARTICLE_TITLE = re.compile(r"^ = ([^=].*?) = $")
_HEADING = re.compile(r"^ (= )+.*?( =)+ $")
_NUMBER_SEPARATOR = re.compile(r" @([-,.])@ ")


def detokenize_wikitext(line: str) -> str:
    """Undo WikiText's number splitting: ``1 @,@ 000`` -> ``1,000``, ``3 @.@ 14`` -> ``3.14``, ``a
    @-@ b`` -> ``a-b``."""
    return _NUMBER_SEPARATOR.sub(r"\1", line)


def wikitext_articles(lines: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
    """Group WikiText lines into ``(title, paragraphs)``, one per top-level heading.

    Section headings and blank lines are dropped; text before the first title
    and articles without text are skipped.
    """
    title, paragraphs = None, []
    for line in lines:
        line = line.rstrip("\n")
        match = _ARTICLE_TITLE.match(line)
        if match:
            if title is not None and paragraphs:
                yield title, paragraphs
            title, paragraphs = match.group(1), []
        elif title is not None and line.strip() and not _HEADING.match(line):
            paragraphs.append(detokenize_wikitext(line.strip()))
    if title is not None and paragraphs:
        yield title, paragraphs


def load_wikitext(
    config: str = "wikitext-103-raw-v1",
    split: str = "train",
    *,
    limit: int | None = None,
    num_proc: int = 1,
) -> list[Document]:
    """WikiText articles as documents (``limit``: the first that many articles).

    Needs the Hugging Face Hub (or its local cache); without it, a
    :class:`bertedu.hub.HubUnavailableError` names the offline alternatives.
    WikiText-103 is about 28,000 articles and 540 MB of text: splitting all of
    it into sentences takes about 40 core-minutes, so use ``num_proc``, and under
    ``torchrun`` let one process do it (:func:`bertedu.data.document_cache.cached_corpus`).
    Attribute the text with :data:`WIKITEXT_ATTRIBUTION`.
    """
    if config not in WIKITEXT_CONFIGS:
        raise ValueError(
            f"Unknown WikiText configuration {config!r}; use one of {', '.join(WIKITEXT_CONFIGS)}."
        )
    from datasets import load_dataset  # deferred: importing datasets takes a second

    with explain_hub_errors(
        f"the dataset {WIKITEXT_HUB_NAME!r} ({config}, split {split!r})",
        "Use bertedu.data.corpus.load_embedded_wikipedia() (10,033 Wikipedia leads, offline) "
        "or bertedu.data.corpus.load_text_documents(path) for your own .txt files.",
    ):
        lines = load_dataset(WIKITEXT_HUB_NAME, config, split=split)["text"]
    articles = []
    for article in wikitext_articles(lines):
        if limit is not None and len(articles) >= limit:
            break
        articles.append(article)
    sentences = split_many([" ".join(paragraphs) for _, paragraphs in articles], num_proc=num_proc)
    documents = [
        Document(tuple(doc), title, "", f"wikitext/{config}/{split}")
        for (title, _), doc in zip(articles, sentences, strict=True)
        if doc
    ]
    return require_documents(documents, f"wikitext {config} {split}")
