"""Writing an answer with the encoder-decoder: greedy search and beam search.

Both start from ``[CLS]`` (the decoder's beginning-of-sequence) and stop at
``[SEP]`` (end-of-sequence) or after ``max_new_tokens``. The encoder runs
once; each step re-runs the decoder on the answer so far (no key/value cache:
answers are short, and the code stays readable).

* **Greedy**: take the most probable next token every step. Fast, but a
  choice that looks best now can lead to a worse whole answer.
* **Beam search**: keep the ``beam_width`` best partial answers (by total
  log-probability); every step extends each by its best tokens and keeps the
  ``beam_width`` best extensions. A beam that emits ``[SEP]`` is finished.
  Total log-probability only falls as an answer grows, so finished answers
  are compared by their **length-normalised** score
  ``log p(answer) / length ** length_penalty`` (``length_penalty`` 0 = raw
  sum, which favours short answers; 1 = mean log-probability per token).

:func:`beam_search` records every step (:class:`BeamStep`): which candidates
were considered, their scores, and which were kept, finished or pruned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bertedu.qa.generative import BertEncoderDecoder, Seq2SeqFeatures, trim_seq2seq

_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}]|'s\b|n't\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_JOINERS = re.compile(r" ?([-/–]) ?")
_DECIMAL = re.compile(r"(\d)([.,]) (?=\d)")  # "3. 5" -> "3.5", "1, 000" -> "1,000"


def decode_answer(tokenizer, token_ids: Sequence[int]) -> str:
    """WordPiece ids -> text, without special tokens and without the spaces WordPiece adds around punctuation.

    ``tokenizer.decode`` gives ``"state - of - the - art ( 2018 )"``; the
    answer a reader expects (and SQuAD's EM compares) is
    ``"state-of-the-art (2018)"``.
    """
    text = tokenizer.decode(
        list(token_ids), skip_special_tokens=True, clean_up_tokenization_spaces=True
    )
    text = _JOINERS.sub(r"\1", text)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    text = _DECIMAL.sub(r"\1\2", text)
    return text.strip()


def _encoder_inputs(input_ids, token_type_ids, attention_mask):
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
        token_type_ids = None if token_type_ids is None else token_type_ids[None]
        attention_mask = None if attention_mask is None else attention_mask[None]
    return input_ids, token_type_ids, attention_mask


@torch.no_grad()
def greedy_decode(
    model: BertEncoderDecoder,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    max_new_tokens: int = 32,
) -> list[list[int]]:
    """The most probable token at every step, for a batch; returns each answer's ids (no [CLS]/[SEP])."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    was_training = model.training
    model.eval()
    input_ids, token_type_ids, attention_mask = _encoder_inputs(
        input_ids, token_type_ids, attention_mask
    )
    states = model.encode(input_ids, token_type_ids, attention_mask)
    batch = input_ids.shape[0]
    generated = torch.full((batch, 1), model.bos_token_id, device=input_ids.device)
    done = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    for _ in range(max_new_tokens):
        logits, _ = model.decode(generated, states, attention_mask, last_only=True)
        next_token = logits[:, -1].argmax(dim=-1)
        next_token = next_token.masked_fill(
            done, model.config.pad_token_id
        )  # finished rows just pad
        generated = torch.cat([generated, next_token[:, None]], dim=1)
        done |= next_token == model.eos_token_id
        if bool(done.all()):
            break
    model.train(was_training)
    answers = []
    for row in generated[:, 1:].tolist():
        if model.eos_token_id in row:
            row = row[: row.index(model.eos_token_id)]
        answers.append([token for token in row if token != model.config.pad_token_id])
    return answers


@dataclass
class BeamCandidate:
    """One extension considered at one step of beam search."""

    parent: int  # index of the beam it extends
    token_id: int
    token: str
    token_log_prob: float
    total_log_prob: float  # log p(prefix + token)
    length: int  # generated tokens including this one
    status: str = "pruned"  # kept | finished | pruned


@dataclass
class BeamStep:
    """What beam search looked at in one step: the live beams and every candidate extension."""

    step: int
    beams: list[
        tuple[list[int], float]
    ]  # (token ids after [CLS], total log-prob) entering this step
    candidates: list[BeamCandidate]


@dataclass
class Hypothesis:
    """A complete (or, at the length limit, cut-off) answer."""

    token_ids: list[int]  # without [CLS] and [SEP]
    log_prob: float
    score: float  # log_prob / length ** length_penalty
    finished: bool  # ended with [SEP] (else stopped by max_new_tokens)


@dataclass
class BeamSearchResult:
    """The best answer, every hypothesis found, and the steps taken."""

    best: Hypothesis
    hypotheses: list[Hypothesis]
    steps: list[BeamStep] = field(default_factory=list)


def normalized_score(log_prob: float, length: int, length_penalty: float) -> float:
    """``log_prob / length ** length_penalty``: compares answers of different lengths."""
    return log_prob / max(length, 1) ** length_penalty


def _cannot_improve(
    finished: list[Hypothesis],
    beams: list[tuple[list[int], float]],
    beam_width: int,
    max_new_tokens: int,
    length_penalty: float,
) -> bool:
    """True when ``beam_width`` answers are finished and no live beam can still beat the worst of them.

    A beam's log-probability can only fall as it grows; the best score it can
    still reach is its current log-probability over the longest allowed
    length (``length_penalty > 0``) or that log-probability itself.
    """
    if len(finished) < beam_width:
        return False
    worst_kept = sorted((h.score for h in finished), reverse=True)[beam_width - 1]
    best_live = max(total for _, total in beams)
    reachable = best_live / max_new_tokens**length_penalty if length_penalty > 0 else best_live
    return reachable <= worst_kept


@torch.no_grad()
def beam_search(
    model: BertEncoderDecoder,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    beam_width: int = 4,
    max_new_tokens: int = 32,
    length_penalty: float = 1.0,
    tokenizer=None,
) -> BeamSearchResult:
    """Beam search for ONE input sequence (``[seq]`` or ``[1, seq]``).

    Each step, every live beam proposes its ``beam_width`` most probable next
    tokens; of all proposals, the best by total log-probability are taken in
    order: one ending in ``[SEP]`` becomes a finished hypothesis, any other
    becomes a live beam, until ``beam_width`` live beams are chosen. Search
    stops when no live beam can still beat the ``beam_width`` best finished
    hypotheses, when no beam is live, or after ``max_new_tokens`` steps (live
    beams then count as unfinished hypotheses). The best hypothesis has the highest length-normalised
    score. ``tokenizer`` (optional) only labels the recorded steps' tokens.
    ``beam_width=1`` is greedy search.
    """
    if beam_width < 1 or max_new_tokens < 1:
        raise ValueError(
            f"beam_width and max_new_tokens must be at least 1, got {beam_width}, {max_new_tokens}"
        )
    input_ids, token_type_ids, attention_mask = _encoder_inputs(
        input_ids, token_type_ids, attention_mask
    )
    if input_ids.shape[0] != 1:
        raise ValueError(
            f"beam_search decodes one sequence at a time, got a batch of {input_ids.shape[0]}; "
            "loop over the rows (or use greedy_decode for a batch)."
        )
    was_training = model.training
    model.eval()
    states = model.encode(input_ids, token_type_ids, attention_mask)
    eos = model.eos_token_id
    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[Hypothesis] = []
    steps: list[BeamStep] = []
    for step in range(max_new_tokens):
        prefix = torch.tensor(
            [[model.bos_token_id, *tokens] for tokens, _ in beams], device=input_ids.device
        )
        mask = None if attention_mask is None else attention_mask.expand(len(beams), -1)
        logits, _ = model.decode(prefix, states.expand(len(beams), -1, -1), mask, last_only=True)
        log_probs = logits[:, -1].float().log_softmax(dim=-1)
        top = log_probs.topk(beam_width, dim=-1)
        candidates = []
        for b, (tokens, total) in enumerate(beams):
            for value, token in zip(top.values[b].tolist(), top.indices[b].tolist()):
                name = (
                    tokenizer.convert_ids_to_tokens(token) if tokenizer is not None else str(token)
                )
                candidates.append(
                    BeamCandidate(b, token, name, value, total + value, len(tokens) + 1)
                )
        candidates.sort(key=lambda c: c.total_log_prob, reverse=True)
        next_beams = []
        for candidate in candidates:
            if len(next_beams) == beam_width:
                break
            tokens = beams[candidate.parent][0]
            if candidate.token_id == eos:
                candidate.status = "finished"
                finished.append(
                    Hypothesis(
                        list(tokens),
                        candidate.total_log_prob,
                        normalized_score(
                            candidate.total_log_prob, candidate.length, length_penalty
                        ),
                        True,
                    )
                )
            else:
                candidate.status = "kept"
                next_beams.append(([*tokens, candidate.token_id], candidate.total_log_prob))
        steps.append(BeamStep(step, [(list(t), s) for t, s in beams], candidates))
        beams = next_beams
        if not beams or _cannot_improve(
            finished, beams, beam_width, max_new_tokens, length_penalty
        ):
            break
    else:
        finished.extend(
            Hypothesis(tokens, total, normalized_score(total, len(tokens), length_penalty), False)
            for tokens, total in beams
        )
    model.train(was_training)
    if not finished:  # stopped early with no beam left: cannot happen, kept for safety
        finished = [
            Hypothesis(tokens, total, normalized_score(total, len(tokens), length_penalty), False)
            for tokens, total in beams
        ]
    hypotheses = sorted(finished, key=lambda h: h.score, reverse=True)
    return BeamSearchResult(hypotheses[0], hypotheses, steps)


def beam_steps_table(result: BeamSearchResult, tokenizer, top: int | None = None) -> list[dict]:
    """The recorded steps as rows (step, prefix, token, log-probs, status), for a table or a plot."""
    rows = []
    for step in result.steps:
        for candidate in step.candidates[:top]:
            prefix_ids = step.beams[candidate.parent][0]
            rows.append(
                {
                    "step": step.step,
                    "beam": candidate.parent,
                    "prefix": tokenizer.decode(prefix_ids) if prefix_ids else "[CLS]",
                    "token": candidate.token,
                    "log p(token)": round(candidate.token_log_prob, 3),
                    "log p(answer so far)": round(candidate.total_log_prob, 3),
                    "status": candidate.status,
                }
            )
    return rows


def generate_answers(
    model: BertEncoderDecoder,
    features: Seq2SeqFeatures,
    tokenizer,
    method: str = "greedy",
    beam_width: int = 4,
    max_new_tokens: int = 32,
    length_penalty: float = 1.0,
    batch_size: int = 32,
) -> list[str]:
    """Answer every example of ``features`` with greedy or beam search; returns text."""
    if method not in ("greedy", "beam"):
        raise ValueError(f"method must be 'greedy' or 'beam', got {method!r}")
    device = next(model.parameters()).device
    answers: list[str] = []
    for first in range(0, len(features), batch_size):
        rows = range(first, min(first + batch_size, len(features)))
        batch = trim_seq2seq(
            {
                key: torch.stack([features[i][key] for i in rows]).to(device)
                for key in ("input_ids", "token_type_ids", "attention_mask")
            }
        )
        if method == "greedy":
            ids = greedy_decode(model, **batch, max_new_tokens=max_new_tokens)
        else:
            ids = [
                beam_search(
                    model,
                    batch["input_ids"][i],
                    batch["token_type_ids"][i],
                    batch["attention_mask"][i],
                    beam_width,
                    max_new_tokens,
                    length_penalty,
                ).best.token_ids
                for i in range(len(rows))
            ]
        answers.extend(decode_answer(tokenizer, row) for row in ids)
    return answers
