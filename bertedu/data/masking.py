"""Masked-language-model inputs: pick positions to predict, then hide them 80/10/10.

BERT (Devlin et al. 2019, section 3.1 and appendix C.2) predicts 15% of the
tokens of each sequence. A chosen token is replaced by [MASK] 80% of the time,
by a random token 10% of the time and left unchanged 10% of the time. The
[MASK] token never appears at fine-tuning time, so always masking would teach
the model that only [MASK] positions matter; the random and unchanged cases
force it to keep a good representation of *every* input token, since any of
them might be one it is asked to predict.

Two details follow Google's ``create_pretraining_data.py`` rather than
transformers' ``DataCollatorForLanguageModeling``:

* the number of predictions per sequence is exact, ``round(15% of the real
  tokens)`` (at least one), capped by ``max_predictions`` (20 for sequences of
  128), instead of a coin flip per token; the model's MLM head then sees a
  predictable amount of work per sequence;
* random replacements are drawn only from real WordPieces: never [PAD], [CLS],
  [SEP], [MASK], [UNK] or the 994 ``[unusedN]`` placeholders, which the model
  would otherwise learn to expect in running text.

Masks are drawn per batch from an explicit ``torch.Generator``, so every epoch
sees new masks (RoBERTa's "dynamic masking") and a run is reproducible.
"""

from __future__ import annotations

import functools
import re

import torch
from transformers import PreTrainedTokenizerBase

from bertedu.constants import IGNORE_INDEX
from bertedu.tokenization import load_tokenizer

MASK_FRACTION = 0.8  # of the chosen positions: replaced by [MASK]
RANDOM_FRACTION = 0.1  # ... replaced by a random real token; the remaining 10% stay unchanged

_UNUSED_TOKEN = re.compile(r"\[unused\d+\]")


def replaceable_token_ids(tokenizer: PreTrainedTokenizerBase) -> torch.Tensor:
    """Ids a random replacement may use: the vocabulary minus special and ``[unusedN]`` tokens.

    For bert-base-uncased these are the 29,523 ids from 999 (``!``) upwards.
    """
    special = set(tokenizer.all_special_tokens)
    ids = [
        index
        for token, index in tokenizer.get_vocab().items()
        if token not in special and not _UNUSED_TOKEN.fullmatch(token)
    ]
    return torch.tensor(sorted(ids), dtype=torch.long)


@functools.lru_cache(maxsize=1)
def _embedded_replaceable_token_ids() -> torch.Tensor:
    """The replaceable ids of the embedded vocabulary, read once (loading it takes seconds)."""
    return replaceable_token_ids(load_tokenizer())


def _default_random_token_ids(vocab_size: int) -> torch.Tensor:
    ids = _embedded_replaceable_token_ids()
    if vocab_size != int(ids.max()) + 1:
        raise ValueError(
            f"vocab_size={vocab_size} is not the embedded bert-base-uncased vocabulary (30522), "
            "so mask_tokens cannot tell which ids are special. Pass "
            "random_token_ids=replaceable_token_ids(your_tokenizer) "
            "(or any 1-D tensor of allowed ids)."
        )
    return ids


def _check_inputs(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    word_start_mask: torch.Tensor | None,
    random_token_ids: torch.Tensor,
    vocab_size: int,
    mask_token_id: int,
    mlm_probability: float,
    max_predictions: int | None,
) -> None:
    if input_ids.dim() != 2:
        raise ValueError(
            f"input_ids must be [batch, seq]; got shape {tuple(input_ids.shape)}. "
            "Use input_ids.unsqueeze(0) for a single sequence."
        )
    for name, mask in (
        ("special_tokens_mask", special_tokens_mask),
        ("word_start_mask", word_start_mask),
    ):
        if mask is not None and mask.shape != input_ids.shape:
            raise ValueError(
                f"{name} has shape {tuple(mask.shape)} but input_ids has {tuple(input_ids.shape)}; "
                "they must match position for position (padding counts as special)."
            )
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    if max_predictions is not None and max_predictions < 1:
        raise ValueError(f"max_predictions must be a positive int or None, got {max_predictions}")
    if not 0 <= mask_token_id < vocab_size:
        raise ValueError(
            f"mask_token_id={mask_token_id} is outside the vocabulary [0, {vocab_size})"
        )
    if random_token_ids.dim() != 1 or random_token_ids.numel() == 0:
        raise ValueError("random_token_ids must be a non-empty 1-D tensor of token ids")
    if int(random_token_ids.min()) < 0 or int(random_token_ids.max()) >= vocab_size:
        raise ValueError(f"random_token_ids must lie in [0, {vocab_size})")


def _select_positions(
    candidates: torch.Tensor,
    word_starts: torch.Tensor,
    mlm_probability: float,
    max_predictions: int | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Choose ``round(p * candidates)`` positions per row (capped), whole words at a time.

    The algorithm: give every word a random priority (a shuffle of the words), walk
    the words in that order and take each one's tokens while the row's total stays
    within its budget. Token-level masking is the case where every token is its own
    word. The walk is done for the whole batch at once by two named helpers:
    :func:`_word_priorities` and :func:`_count_at_most`. One difference from Google's
    ``create_masked_lm_predictions``: it skips a word that would overshoot the budget
    and tries the next, where this walk stops, so with whole-word masking a row can get
    a token or two fewer (never with token-level masking).
    """
    budget = _prediction_budget(candidates.sum(dim=1), mlm_probability, max_predictions)
    priority = _word_priorities(candidates, word_starts, generator)  # one number per word
    taken_by_then = _count_at_most(priority)  # tokens taken once this token's word is
    return candidates & (taken_by_then <= budget.unsqueeze(1))


def _prediction_budget(
    count: torch.Tensor, mlm_probability: float, max_predictions: int | None
) -> torch.Tensor:
    """Predictions per row: ``round(p * count)``, at least one for a non-empty row (as Google's
    ``max(1, ...)``) unless ``p`` is 0, at most ``max_predictions``."""
    budget = (count * mlm_probability).round().long()
    budget = torch.where((count > 0) & (mlm_probability > 0), budget.clamp(min=1), budget)
    return budget if max_predictions is None else budget.clamp(max=max_predictions)


def _word_priorities(
    candidates: torch.Tensor, word_starts: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """A random priority per word, copied to each of its tokens; non-candidates get 3 (last).

    Each word start draws a number in [0, 1); ``scatter_reduce`` writes it into the
    word's slot (its number in the row), and ``gather`` copies it back to every piece.
    float64 keys: two words sharing a priority would merge into one "word".
    """
    word_index = (word_starts.long().cumsum(dim=1) - 1).clamp(min=0)  # word number per token
    priority = torch.rand(candidates.shape, generator=generator, dtype=torch.float64)
    word_priority = torch.full(candidates.shape, 2.0, dtype=torch.float64)
    word_priority.scatter_reduce_(
        1, word_index, torch.where(word_starts, priority, 2.0), reduce="amin"
    )
    return torch.where(candidates, word_priority.gather(1, word_index), 3.0)


def _count_at_most(key: torch.Tensor) -> torch.Tensor:
    """For each entry, how many entries of its row are <= it: with word priorities as keys, the
    tokens taken once its whole word is.

    Same as ``searchsorted(sorted_key, key, right=True)``, but five times faster on CPU:
    sort, mark the end of each run of equal keys, carry that end back over the run.
    """
    ordered, order = key.sort(dim=1)
    length = key.shape[1]
    run_ends = torch.ones_like(ordered, dtype=torch.bool)
    run_ends[:, :-1] = ordered[:, 1:] != ordered[:, :-1]
    positions = torch.arange(length).expand_as(ordered)
    count_sorted = torch.where(run_ends, positions, length).flip(1).cummin(dim=1).values.flip(1) + 1
    return torch.empty_like(count_sorted).scatter_(1, order, count_sorted)


def mask_tokens(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    *,
    vocab_size: int,
    mask_token_id: int,
    mlm_probability: float = 0.15,
    max_predictions: int | None = None,
    generator: torch.Generator | None = None,
    random_token_ids: torch.Tensor | None = None,
    word_start_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask a batch for MLM; returns ``(masked_input_ids, labels)``, labels IGNORE_INDEX (-100)
    where nothing is predicted.

    Args:
        input_ids: ``[batch, seq]`` token ids (not modified).
        special_tokens_mask: ``[batch, seq]``, true/1 at [CLS], [SEP] and padding: never chosen.
        vocab_size: size of the vocabulary the ids come from.
        mask_token_id: id of [MASK].
        mlm_probability: fraction of the non-special tokens of each row to predict.
        max_predictions: cap on predictions per row (Google's README: about
            ``max_seq_length * masked_lm_prob``, 20 for sequences of 128).
        generator: the source of all randomness; ``None`` uses torch's global generator.
        random_token_ids: ids allowed as random replacements; by default the real
            WordPieces of the embedded bert-base-uncased vocabulary (see
            :func:`replaceable_token_ids` for other tokenizers).
        word_start_mask: for whole-word masking, ``[batch, seq]`` true where a
            word begins (false on ``##`` continuation pieces); a word's pieces
            are then chosen together, each still masked 80/10/10.
    """
    if random_token_ids is None:
        random_token_ids = _default_random_token_ids(vocab_size)
    _check_inputs(
        input_ids,
        special_tokens_mask,
        word_start_mask,
        random_token_ids,
        vocab_size,
        mask_token_id,
        mlm_probability,
        max_predictions,
    )
    candidates = ~special_tokens_mask.bool()
    if word_start_mask is None:
        word_starts = candidates
    else:
        # A piece right after a special token starts a word even if it looks like a continuation,
        # e.g. a "##ing" left at the front of a segment by truncation.
        previous_is_candidate = torch.nn.functional.pad(candidates[:, :-1], (1, 0), value=False)
        word_starts = candidates & (word_start_mask.bool() | ~previous_is_candidate)

    selected = _select_positions(
        candidates, word_starts, mlm_probability, max_predictions, generator
    )
    labels = torch.where(selected, input_ids, IGNORE_INDEX)

    outcome = torch.rand(input_ids.shape, generator=generator)
    use_mask = selected & (outcome < MASK_FRACTION)
    use_random = selected & (outcome >= MASK_FRACTION) & (outcome < MASK_FRACTION + RANDOM_FRACTION)
    random_ids = random_token_ids[
        torch.randint(len(random_token_ids), input_ids.shape, generator=generator)
    ]

    masked = torch.where(use_mask, torch.as_tensor(mask_token_id, dtype=input_ids.dtype), input_ids)
    masked = torch.where(use_random, random_ids.to(input_ids.dtype), masked)
    return masked, labels
