"""Giving a generated answer back the passage's own characters.

An encoder-decoder writes WordPieces, and the uncased tokenizer's WordPieces have
lost what its normaliser removed: capitals, accents and spacing. Decoded, the gold
answer ``Emily Brontë`` reads ``emily bronte``, ``北京`` reads ``北 京`` (the
tokenizer puts a space around every Chinese character) and ``Years' War`` may
read ``years'war``. SQuAD's EM keeps accents, spaces and non-ASCII letters, so a
reader that wrote exactly the right WordPieces still scored 0 on such answers.

:func:`answer_from_passage` looks for the decoded answer in its passage in the
tokenizer's normalised space (lower case, accents stripped, whitespace and
invisible characters ignored) and, when it is there, returns the passage's own
substring. An answer that is not in the passage (a generative reader may write
one) is returned as it was decoded.
"""

from __future__ import annotations

import unicodedata

from bertedu.qa.extractive import inside_word


def fold_char(char: str) -> str:
    """What bert-base-uncased's normaliser leaves of one character: lower case, no accents
    (NFD, combining marks dropped), nothing for whitespace and control or format characters."""
    kept = []
    for part in unicodedata.normalize("NFD", char.lower()):
        if part.isspace() or unicodedata.category(part)[0] == "C":
            continue
        if unicodedata.category(part) != "Mn":
            kept.append(part)
    return "".join(kept)


def folded(text: str) -> tuple[str, list[int]]:
    """``text`` folded by :func:`fold_char`, and for each folded character the index of the
    character of ``text`` it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in fold_char(char):
            chars.append(part)
            origin.append(index)
    return "".join(chars), origin


def answer_from_passage(answer: str, passage: str) -> str:
    """``answer`` as the passage writes it, when the passage holds it; else ``answer`` as is.

    The comparison ignores case, accents, whitespace and invisible characters (what the
    uncased tokenizer cannot write back). The first occurrence whose ends fall on word
    boundaries wins (``he`` is found as the word, not inside ``the``), else the first
    occurrence; the span is widened over combining marks that follow it, so a decomposed
    accent stays with its letter.
    """
    if not isinstance(answer, str) or not isinstance(passage, str):
        raise TypeError(
            f"answer and passage must be strings, got {type(answer).__name__} and "
            f"{type(passage).__name__}."
        )
    needle, _ = folded(answer)
    if not needle:
        return answer
    haystack, origin = folded(passage)
    first_match = None
    start = haystack.find(needle)
    while start != -1:
        begin = origin[start]
        end = origin[start + len(needle) - 1] + 1
        while end < len(passage) and not passage[end].isspace() and not fold_char(passage[end]):
            end += 1  # a combining accent or a zero-width character after the last letter
        if not inside_word(passage, begin) and not inside_word(passage, end):
            return passage[begin:end]
        first_match = first_match or (begin, end)
        start = haystack.find(needle, start + 1)
    return passage[first_match[0] : first_match[1]] if first_match else answer
