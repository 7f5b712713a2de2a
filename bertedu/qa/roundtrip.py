"""The teacher's pass: round-trip consistency and soft labels from one forward.

Alberti et al. (2019), "Synthetic QA Corpora Generation with Roundtrip
Consistency": a generated question is kept only when a reader, given the
question and the passage, finds the answer the question was generated from.
The reader here is the extractive MiniLM reader of chapter 6 (the *teacher*),
and the same forward pass gives what distillation needs (Hinton et al. 2015):
the teacher's start and end scores over the passage.

**Soft labels, stored by character.** For every question,
:func:`teacher_pass` keeps the ``top_k`` passage tokens with the highest
start logits and the ``top_k`` with the highest end logits, each as
``(character, logit)``: the character where that token *starts* (for start
logits) or *ends*, one past its last character (for end logits). A token
seen by several windows takes its logits from the window where it has the
most context (:func:`~bertedu.qa.extractive.max_context_windows`, the rule
the reader's own post-processing uses). Characters, not token positions,
because positions depend on the window cut, the question's length and
``max_length``; characters do not. A student with the same WordPiece
vocabulary finds the same token boundaries in the passage, so
:func:`window_soft_logits` maps the labels onto any window of its own
exactly; a student with another tokeniser keeps the tokens whose first (or
last) character matches. Tokens outside the top ``k`` get ``-inf`` (the
teacher's softmax over the passage puts almost all its mass on far fewer
than 20 tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertedu.qa.datasets import QAExample
from bertedu.qa.extractive import (
    QAFeatures,
    Window,
    max_context_windows,
    postprocess_predictions,
    predict_logits,
    prepare_features,
)
from bertedu.qa.metrics import exact_match_score, f1_score

#: How many start and how many end logits are kept per question.
DEFAULT_TOP_K = 20


@dataclass(frozen=True)
class TeacherOutput:
    """What the teacher says about one question: its answer and its top start/end logits."""

    answer: str
    answer_start: int  # -1 when the teacher found no valid span
    start: tuple[tuple[int, float], ...]  # (character where a token starts, start logit)
    end: tuple[tuple[int, float], ...]  # (character one past a token's end, end logit)

    def to_json(self, digits: int = 2) -> dict:
        """A compact JSON record: ``{"answer", "answer_start", "start": [[char, logit]...],
        "end": [...]}``, logits rounded to ``digits`` decimals."""
        return {
            "answer": self.answer,
            "answer_start": self.answer_start,
            "start": [[c, round(v, digits)] for c, v in self.start],
            "end": [[c, round(v, digits)] for c, v in self.end],
        }

    @classmethod
    def from_json(cls, record: dict) -> TeacherOutput:
        """Inverse of :meth:`to_json`."""
        return cls(
            record["answer"],
            int(record["answer_start"]),
            tuple((int(c), float(v)) for c, v in record["start"]),
            tuple((int(c), float(v)) for c, v in record["end"]),
        )


def _top(scores: dict[int, float], k: int) -> tuple[tuple[int, float], ...]:
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return tuple((char, float(value)) for char, value in best)


def passage_logits(
    features: QAFeatures, start_logits: torch.Tensor, end_logits: torch.Tensor, top_k: int
) -> list[tuple[tuple[tuple[int, float], ...], tuple[tuple[int, float], ...]]]:
    """Per example of ``features``: its top ``top_k`` ``(char, start logit)`` and ``(char, end
    logit)`` over the passage tokens, each token read in its maximum-context window."""
    home = max_context_windows(features.windows)
    starts: list[dict[int, float]] = [{} for _ in features.examples]
    ends: list[dict[int, float]] = [{} for _ in features.examples]
    for w, window in enumerate(features.windows):
        shift = window.token_start - window.context_offset
        for position, span in enumerate(window.offsets):
            if span is None or home[(window.example_index, position + shift)] != w:
                continue
            starts[window.example_index][span[0]] = float(start_logits[w, position])
            ends[window.example_index][span[1]] = float(end_logits[w, position])
    return [(_top(s, top_k), _top(e, top_k)) for s, e in zip(starts, ends, strict=True)]


def teacher_pass(
    model,
    examples: Sequence[QAExample],
    tokenizer,
    max_length: int,
    stride: int,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 32,
) -> list[TeacherOutput]:
    """The extractive ``model``'s answer and top-``k`` passage logits for every example.

    The examples are read in order of their passage's length (less padding per batch);
    the outputs come back in the examples' order.
    """
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i].context), i))
    outputs = _teacher_pass(
        [examples[i] for i in order], model, tokenizer, max_length, stride, top_k, batch_size
    )
    back: list[TeacherOutput | None] = [None] * len(examples)
    for position, i in enumerate(order):
        back[i] = outputs[position]
    return back


def _teacher_pass(examples, model, tokenizer, max_length, stride, top_k, batch_size):
    """:func:`teacher_pass` on examples in the order given."""
    features = prepare_features(list(examples), tokenizer, max_length, stride, with_labels=False)
    start_logits, end_logits = predict_logits(model, features, batch_size)
    _, nbest = postprocess_predictions(features, start_logits, end_logits)
    tops = passage_logits(features, start_logits, end_logits, top_k)
    out = []
    for example, (start, end) in zip(features.examples, tops, strict=True):
        best = nbest[example.id]
        answer, at = (best[0].text, best[0].char_start) if best else ("", -1)
        out.append(TeacherOutput(answer, at, start, end))
    return out


def round_trip(teacher_answer: str, answer: str) -> tuple[bool, float]:
    """``(kept, F1)``: kept when the teacher's answer equals ``answer`` after SQuAD's
    normalisation (exact match; lower case, no punctuation or articles); F1 for the record."""
    return bool(exact_match_score(teacher_answer, answer)), f1_score(teacher_answer, answer)


def window_soft_logits(
    labels: TeacherOutput, window: Window, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's start and end logits on one of the *student's* windows: ``[length]`` each.

    ``window`` comes from :func:`~bertedu.qa.extractive.prepare_features` on the
    same question and passage (any ``max_length`` or stride). A position
    gets the teacher's start logit when its token starts at a stored
    character, its end logit when the token ends at one; every other
    position (question, special tokens, padding, tokens outside the top
    ``k``) is ``-inf``. A window that holds none of them is all ``-inf``:
    skip it in the distillation loss (its hard label is ``[CLS]``).
    """
    start = torch.full((length,), float("-inf"))
    end = torch.full((length,), float("-inf"))
    starts, ends = dict(labels.start), dict(labels.end)
    for position, span in enumerate(window.offsets[:length]):
        if span is None:
            continue
        if span[0] in starts:
            start[position] = starts[span[0]]
        if span[1] in ends:
            end[position] = ends[span[1]]
    return start, end
