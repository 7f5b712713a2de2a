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


def fill_mask(
    model: BertForPreTraining, tokenizer, text: str, *, top_k: int = 5
) -> list[list[Prediction]]:
    """The ``top_k`` most probable WordPieces for every ``[MASK]`` in ``text``, most probable first.

    One list per [MASK], in the order they appear. The text goes in as one
    segment (``[CLS] text [SEP]``), as at the start of pretraining's segment A.
    """
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
    """The model's probability that ``sentence_b`` really follows ``sentence_a`` (NSP class 0)."""
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
