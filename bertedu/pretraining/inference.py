"""Ask a pretrained BERT what it learned: fill in [MASK] tokens, judge whether B follows A."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertedu.model import BertForPreTraining
from bertedu.nn_utils import eval_mode, model_device


@dataclass(frozen=True)
class Prediction:
    """One candidate for a [MASK]: the WordPiece and its probability."""

    token: str
    probability: float


def checked_text(text: object, what: str) -> str:
    """``text`` when it is a non-empty string of valid Unicode; a ValueError saying what is
    wrong otherwise (a lone surrogate fails deep in the Rust tokenizer with a TypeError)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError(f"{what} is empty: give the model some words to read.")
    for index, char in enumerate(text):
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(
                f"{what} holds a lone surrogate (U+{ord(char):04X} at character {index}): not "
                "valid Unicode, usually text decoded with errors='surrogateescape'. Clean it "
                "with text.encode('utf-8', 'replace').decode('utf-8')."
            )
    return text


def own_ids(tokenizer, text: str, what: str) -> torch.Tensor:
    """The WordPiece ids of ``text`` alone (no ``[CLS]``/``[SEP]``); a ValueError when there are
    none. The tokenizer's normalisation deletes zero-width and control characters and
    combining accents on nothing, so such a text reaches the model as an empty segment and
    would still get a confident-looking answer."""
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    if ids.numel() == 0:
        raise ValueError(
            f"{what} ({text!r}) has no WordPieces after the tokenizer's normalisation: it holds "
            "only characters the tokenizer deletes (zero-width, control or lone combining "
            "characters). Give the model some words to read."
        )
    return ids


def refuse_typed_specials(ids: torch.Tensor, tokenizer, what: str, allowed: set[int]) -> None:
    """Refuse a special token typed in the text (``[SEP]``, ``[CLS]``, ``[PAD]``).

    The tokenizer reads the literal text ``[SEP]`` as the special token itself, so a typed
    one would end a segment where the model expects none. ``ids`` are the text's own
    tokens, without the ``[CLS]``/``[SEP]`` the tokenizer adds around them.
    """
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    typed = sorted({int(i) for i in ids.tolist()} & (specials - allowed))
    if typed:
        names = ", ".join(tokenizer.convert_ids_to_tokens(typed))
        raise ValueError(
            f"{what} contains {names}, which the tokenizer reads as the special token, not as "
            "text: the model would see a segment boundary there. Remove it (only [MASK] may be "
            "typed, in fill_mask, to hide a word)."
        )


def fill_mask(
    model: BertForPreTraining, tokenizer, text: str, *, top_k: int = 5
) -> list[list[Prediction]]:
    """The ``top_k`` most probable WordPieces for every ``[MASK]`` in ``text``, most probable first.

    One list per [MASK], in the order they appear. The text goes in as one
    segment (``[CLS] text [SEP]``), as at the start of pretraining's segment A.
    A typed ``[MASK]`` *is* the special token (that is how a word is hidden); the
    other special tokens typed in the text (``[CLS]``, ``[SEP]``, ``[PAD]``) are
    refused, as is a ``top_k`` outside 1 to the vocabulary's size.
    """
    checked_text(text, "text")
    vocab_size = model.config.vocab_size
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= vocab_size:
        raise ValueError(
            f"top_k must be a whole number from 1 to the vocabulary's size ({vocab_size}), "
            f"got {top_k!r}."
        )
    own = own_ids(tokenizer, text, "text")
    refuse_typed_specials(own, tokenizer, "text", set())
    encoded = tokenizer(text, return_tensors="pt")
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    if positions.numel() == 0:
        raise ValueError(
            f"No {tokenizer.mask_token} in {text!r}: "
            f"write {tokenizer.mask_token} where a word is hidden."
        )
    device = model_device(model)
    with eval_mode(model), torch.no_grad():
        output = model(**{name: value.to(device) for name, value in encoded.items()})
    probabilities = output.mlm_logits[0, positions.to(device)].float().softmax(-1)
    top = probabilities.topk(top_k, dim=-1)
    return [
        [
            Prediction(tokenizer.convert_ids_to_tokens(int(i)), float(p))
            for p, i in zip(ps, ids, strict=True)
        ]
        for ps, ids in zip(top.values, top.indices, strict=True)
    ]


def is_next_probability(
    model: BertForPreTraining, tokenizer, sentence_a: str, sentence_b: str
) -> float:
    """The model's probability that ``sentence_b`` really follows ``sentence_a`` (NSP class 0).

    Both sentences must hold some text; a ``[SEP]`` or ``[CLS]`` typed in one is refused
    (the tokenizer would read it as a segment boundary). A typed ``[MASK]`` stays a mask.
    """
    checked_text(sentence_a, "sentence_a")
    checked_text(sentence_b, "sentence_b")
    for what, sentence in (("sentence_a", sentence_a), ("sentence_b", sentence_b)):
        refuse_typed_specials(own_ids(tokenizer, sentence, what), tokenizer, what, set())
    encoded = tokenizer(sentence_a, sentence_b, return_tensors="pt")
    device = model_device(model)
    with eval_mode(model), torch.no_grad():
        logits = model(**{name: value.to(device) for name, value in encoded.items()}).nsp_logits
    return float(logits.float().softmax(-1)[0, 0])


def mask_a_word(
    sentence: str, tokenizer, *, fraction: float = 0.6, min_length: int = 3
) -> tuple[str, str] | None:
    """Hide one word of ``sentence``: ``(text with [MASK], hidden word)``, or None if no word
    qualifies.

    The word is the alphabetic, single-WordPiece word (at least ``min_length``
    letters) closest to ``fraction`` of the way through the sentence: a
    deterministic choice, so a table of examples is the same on every run, and
    one [MASK] hides exactly one word.
    """
    if not isinstance(sentence, str):
        raise ValueError(f"sentence must be a string, got {type(sentence).__name__}.")
    words = sentence.split()
    candidates = [
        index
        for index, word in enumerate(words)
        if word.isalpha() and len(word) >= min_length and len(tokenizer.tokenize(word)) == 1
    ]
    if not candidates:
        return None
    target = fraction * (len(words) - 1)
    index = min(candidates, key=lambda i: (abs(i - target), i))
    hidden = words[index]
    return " ".join([*words[:index], tokenizer.mask_token, *words[index + 1 :]]), hidden.lower()
