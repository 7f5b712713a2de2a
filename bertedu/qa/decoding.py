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

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bertedu.nn_utils import eval_mode, model_device
from bertedu.qa.copying import passage_mask
from bertedu.qa.generative import BertEncoderDecoder, Seq2SeqFeatures, trim_seq2seq
from bertedu.qa.passage_text import answer_from_passage

_NO_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}]|'s\b|n't\b)")
_NO_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_JOINERS = re.compile(r" ?([-/–]) ?")
_LEADING_CONTINUATION = re.compile(r"^\s*(?:##)+")
# "3. 5" -> "3.5" and "17, 897" -> "17,897", but "February 13, 2000" stays: a comma joins
# only a group of exactly three digits (thousands), a point any digits (decimals).
_DECIMAL = re.compile(r"(\d)(\.|,(?= \d{3}(?!\d))) (?=\d)")

Beam = tuple[list[int], float]  # (token ids after [CLS], total log-probability)


def checked_token_ids(tokenizer, token_ids: Sequence[int]) -> list[int]:
    """``token_ids`` as a list of ints, each within ``tokenizer``'s vocabulary.

    The Rust tokenizer raises an ``OverflowError`` on a negative id and silently drops an id
    past the vocabulary; a float or a string fails with an unrelated ``TypeError``.
    """
    size = len(tokenizer)
    ids = []
    for value in token_ids:
        try:
            token_id = operator.index(value)
        except TypeError:
            raise TypeError(
                f"token ids must be whole numbers, got {value!r} ({type(value).__name__}): pass "
                "the ids the model generated (a list of ints or an integer tensor)."
            ) from None
        if not 0 <= token_id < size:
            raise ValueError(
                f"token id {token_id} is outside the vocabulary (0-{size - 1}): these ids come "
                "from another tokenizer or model, or were not generated ids at all."
            )
        ids.append(token_id)
    return ids


def decode_answer(tokenizer, token_ids: Sequence[int]) -> str:
    """WordPiece ids -> text, without special tokens and without the spaces WordPiece adds around
    punctuation.

    ``tokenizer.decode`` gives ``"state - of - the - art ( 2018 )"``; the
    answer a reader expects (and SQuAD's EM compares) is
    ``"state-of-the-art (2018)"``. A continuation piece at the start (``##mar``, which a
    weak generator can emit first) has no word to join: its ``##`` is dropped, never shown.
    ``token_ids`` are whole numbers (ints, NumPy or tensor integers) within the vocabulary;
    anything else is refused with the offending id named.
    """
    text = tokenizer.decode(
        checked_token_ids(tokenizer, token_ids),
        skip_special_tokens=True,
        clean_up_tokenization_spaces=True,
    )
    text = _LEADING_CONTINUATION.sub("", text)
    text = _JOINERS.sub(r"\1", text)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    text = _NO_SPACE_AFTER.sub(r"\1", text)
    text = _DECIMAL.sub(r"\1\2", text)
    return text.strip()


@dataclass
class _Source:
    """The encoder's side of decoding: its states and what the decoder needs to read/copy them."""

    states: torch.Tensor  # [batch, source, hidden]
    attention_mask: torch.Tensor | None
    input_ids: torch.Tensor
    copy_mask: torch.Tensor

    def step(self, model: BertEncoderDecoder, prefix: torch.Tensor) -> torch.Tensor:
        """Scores of the next token after ``prefix`` ``[rows, length]``: ``[rows, vocab]``.

        A batch of one source is broadcast to the rows (the beams of beam search).
        """
        rows = prefix.shape[0]

        def expand(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.expand(rows, *t.shape[1:])

        out = model.decode(
            prefix,
            expand(self.states),
            expand(self.attention_mask),
            last_only=True,
            source_ids=expand(self.input_ids),
            copy_mask=expand(self.copy_mask),
        )
        return out.logits[:, -1]


def _encode(model, input_ids, token_type_ids, attention_mask) -> _Source:
    """Run the encoder once on the inputs, moved to the model's device (``[seq]`` or
    ``[batch, seq]``)."""
    device = model_device(model)
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
        token_type_ids = None if token_type_ids is None else token_type_ids[None]
        attention_mask = None if attention_mask is None else attention_mask[None]
    input_ids = input_ids.to(device)
    token_type_ids = None if token_type_ids is None else token_type_ids.to(device)
    attention_mask = None if attention_mask is None else attention_mask.to(device)
    states = model.encode(input_ids, token_type_ids, attention_mask)
    copy_mask = passage_mask(input_ids, token_type_ids, attention_mask)
    return _Source(states, attention_mask, input_ids, copy_mask)


def check_max_new_tokens(model: BertEncoderDecoder, max_new_tokens: int) -> None:
    """Refuse, before generating, more tokens than the decoder has positions for."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    positions = model.config.max_position_embeddings
    if max_new_tokens > positions:
        raise ValueError(
            f"max_new_tokens={max_new_tokens} is more than the decoder's {positions} positions "
            f"(the start token and the answer share them); pass max_new_tokens <= {positions}."
        )


@torch.no_grad()
def greedy_decode(
    model: BertEncoderDecoder,
    input_ids: torch.Tensor,
    token_type_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    max_new_tokens: int = 32,
) -> list[list[int]]:
    """The most probable token at every step, for a batch; each answer's ids (no [CLS]/[SEP]).

    The inputs may live on any device: they are moved to the model's.
    """
    check_max_new_tokens(model, max_new_tokens)
    pad, eos = model.config.pad_token_id, model.eos_token_id
    with eval_mode(model):
        source = _encode(model, input_ids, token_type_ids, attention_mask)
        batch, device = source.input_ids.shape[0], source.input_ids.device
        generated = torch.full((batch, 1), model.bos_token_id, device=device)
        done = torch.zeros(batch, dtype=torch.bool, device=device)
        for _ in range(max_new_tokens):
            scores = source.step(model, generated)
            next_token = scores.argmax(dim=-1).masked_fill(done, pad)  # finished rows pad
            generated = torch.cat([generated, next_token[:, None]], dim=1)
            done |= next_token == eos
            if bool(done.all()):
                break
    answers = []
    for row in generated[:, 1:].tolist():
        if eos in row:
            row = row[: row.index(eos)]
        answers.append([token for token in row if token != pad])
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
    beams: list[Beam]  # the live beams entering this step
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
    beams: list[Beam],
    beam_width: int,
    max_new_tokens: int,
    length_penalty: float,
) -> bool:
    """True when ``beam_width`` answers are finished and no live beam can still beat the worst of
    them.

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


def _propose(
    model: BertEncoderDecoder,
    source: _Source,
    beams: list[Beam],
    beam_width: int,
    tokenizer,
) -> list[BeamCandidate]:
    """Every live beam's ``beam_width`` most probable next tokens, best total log-prob first."""
    prefix = torch.tensor(
        [[model.bos_token_id, *tokens] for tokens, _ in beams], device=source.states.device
    )
    top = source.step(model, prefix).float().log_softmax(dim=-1).topk(beam_width, dim=-1)
    candidates = []
    for b, (tokens, total) in enumerate(beams):
        for value, token in zip(top.values[b].tolist(), top.indices[b].tolist(), strict=True):
            name = tokenizer.convert_ids_to_tokens(token) if tokenizer is not None else str(token)
            candidates.append(BeamCandidate(b, token, name, value, total + value, len(tokens) + 1))
    return sorted(candidates, key=lambda c: c.total_log_prob, reverse=True)


def _select(
    candidates: list[BeamCandidate],
    beams: list[Beam],
    beam_width: int,
    eos_token_id: int,
    length_penalty: float,
) -> tuple[list[Beam], list[Hypothesis]]:
    """Take the best candidates in order until ``beam_width`` live beams are chosen.

    A candidate ending in ``[SEP]`` becomes a finished hypothesis, any other a
    live beam; each candidate's ``status`` records what happened to it.
    """
    next_beams: list[Beam] = []
    finished: list[Hypothesis] = []
    for candidate in candidates:
        if len(next_beams) == beam_width:
            break
        tokens, total = beams[candidate.parent][0], candidate.total_log_prob
        if candidate.token_id == eos_token_id:
            candidate.status = "finished"
            score = normalized_score(total, candidate.length, length_penalty)
            finished.append(Hypothesis(list(tokens), total, score, True))
        else:
            candidate.status = "kept"
            next_beams.append(([*tokens, candidate.token_id], total))
    return next_beams, finished


def _unfinished(beams: list[Beam], length_penalty: float) -> list[Hypothesis]:
    """Live beams stopped by the length limit, as hypotheses."""
    return [
        Hypothesis(tokens, total, normalized_score(total, len(tokens), length_penalty), False)
        for tokens, total in beams
    ]


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
    beams then count as unfinished hypotheses). The best hypothesis has the
    highest length-normalised score. ``tokenizer`` (optional) only labels the
    recorded steps' tokens. ``beam_width=1`` is greedy search. The inputs are
    moved to the model's device.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    check_max_new_tokens(model, max_new_tokens)
    rows = 1 if input_ids.dim() == 1 else input_ids.shape[0]
    if rows != 1:
        raise ValueError(
            f"beam_search decodes one sequence at a time, got a batch of {rows}; "
            "loop over the rows (or use greedy_decode for a batch)."
        )
    beams: list[Beam] = [([], 0.0)]
    finished: list[Hypothesis] = []
    steps: list[BeamStep] = []
    with eval_mode(model):
        source = _encode(model, input_ids, token_type_ids, attention_mask)
        for step in range(max_new_tokens):
            candidates = _propose(model, source, beams, beam_width, tokenizer)
            next_beams, done = _select(
                candidates, beams, beam_width, model.eos_token_id, length_penalty
            )
            finished += done
            steps.append(BeamStep(step, [(list(t), s) for t, s in beams], candidates))
            beams = next_beams
            if not beams or _cannot_improve(
                finished, beams, beam_width, max_new_tokens, length_penalty
            ):
                break
        else:
            finished += _unfinished(beams, length_penalty)
    if not finished:  # stopped early with no beam left: cannot happen, kept for safety
        finished = _unfinished(beams, length_penalty)
    hypotheses = sorted(finished, key=lambda h: h.score, reverse=True)
    return BeamSearchResult(hypotheses[0], hypotheses, steps)


def beam_steps_table(result: BeamSearchResult, tokenizer, top: int | None = None) -> list[dict]:
    """The recorded steps as rows (step, prefix, token, log-probs, status) for a table."""
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
    """Answer every example of ``features`` with greedy or beam search; returns text.

    Each answer is decoded (:func:`decode_answer`) and, where its passage holds it, given
    back the passage's own characters (:func:`~bertedu.qa.passage_text.answer_from_passage`):
    ``Emily Brontë``, not the uncased tokenizer's ``emily bronte``.
    """
    if method not in ("greedy", "beam"):
        raise ValueError(f"method must be 'greedy' or 'beam', got {method!r}")
    device = model_device(model)
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
        answers.extend(
            answer_from_passage(decode_answer(tokenizer, row), features.examples[i].context)
            for i, row in zip(rows, ids, strict=True)
        )
    return answers
