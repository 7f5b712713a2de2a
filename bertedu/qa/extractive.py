"""Extractive question answering: the answer is a span of the passage.

BERT reads ``[CLS] question [SEP] passage [SEP]`` and a linear layer gives
every token two scores, "the answer starts here" and "the answer ends here".
Four pieces turn that idea into a working reader:

1. **Windows.** A passage longer than the model's input is cut into
   overlapping windows of ``max_length`` tokens (question included); two
   consecutive windows share ``stride`` passage tokens, so an answer cut by
   one window's edge lies whole inside the next. ``stride`` here is the
   *overlap*, as in Hugging Face's tokenizers (``return_overflowing_tokens``)
   and ``run_qa.py``; Google's ``run_squad.py`` calls the *step* between window
   starts ``doc_stride``, so its ``doc_stride=128`` at ``max_length=384`` means
   windows that overlap by about ``384 - question - 3 - 128`` tokens (~240),
   not 128. Ours with ``stride=128`` step by ``capacity - 128``.
2. **Offsets.** Every passage token keeps its ``(start, end)`` character
   offsets, so a predicted token span maps back to the exact characters of the
   original text (not to a re-joined, lower-cased WordPiece string).
3. **Labels.** In training, the target is the answer's first and last token in
   the window, or position 0 (``[CLS]``) for both when the window does not
   contain the whole answer.
4. **Post-processing** (:func:`postprocess_predictions`), in the code's
   order: per window, the ``n_best`` highest start and end scores are paired
   and spans that run backwards, are longer than ``max_answer_length`` tokens
   or touch the question are dropped; a span is kept only in the window where
   its first token has its **maximum context** (``run_squad.py``'s rule: a
   token seen by several windows counts in the one where it has the most
   tokens on its shorter side); spans starting or ending inside a word are
   dropped; the best span over all windows (score = start logit + end logit)
   is the answer, and the n-best list keeps one candidate per text.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.model import BertConfig, BertModel, init_bert_weights
from bertedu.nn_utils import eval_mode, model_device, num_parameters
from bertedu.qa.datasets import QAExample

#: Google's ``run_squad.py`` truncates questions to 64 WordPieces (``max_query_length``).
DEFAULT_MAX_QUESTION_LENGTH = 64


def check_text(question: str, context: str) -> None:
    """Raise a ``ValueError`` for a question or passage the reader cannot use."""
    for name, value in (("question", question), ("context", context)):
        if not isinstance(value, str):
            raise ValueError(f"The {name} must be a string, got {type(value).__name__}.")
        if not value.strip():
            raise ValueError(
                f"The {name} is empty; a reader (extractive or generative) needs a question "
                "and a passage to answer it from."
            )


@dataclass
class Window:
    """One model input cut from an example: which passage tokens and characters it covers."""

    example_index: int
    token_start: int  # first passage token (index into the passage's own tokens)
    token_end: int  # one past the last passage token
    context_offset: int  # position of the first passage token in input_ids (len(question) + 2)
    offsets: list[
        tuple[int, int] | None
    ]  # per input position: character span in the passage, or None
    question_truncated: bool = False


@dataclass
class QAFeatures(torch.utils.data.Dataset):
    """Tokenised windows of a list of examples, ready for the model.

    Indexing gives the model's inputs (and labels when the examples have
    answers) as a dict of tensors padded to ``max_length``; :func:`trim_batch`
    cuts a batch back to its longest real window. ``windows[i]`` keeps the
    bookkeeping the post-processing needs.
    """

    input_ids: torch.Tensor  # [windows, max_length]
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    windows: list[Window]
    start_positions: torch.Tensor | None = None  # [windows]; 0 = answer not in this window
    end_positions: torch.Tensor | None = None
    max_length: int = 384
    stride: int = 128
    examples: list[QAExample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {
            "input_ids": self.input_ids[index],
            "token_type_ids": self.token_type_ids[index],
            "attention_mask": self.attention_mask[index],
        }
        if self.start_positions is not None:
            item["start_positions"] = self.start_positions[index]
            item["end_positions"] = self.end_positions[index]
        return item

    def model_inputs(self, indices: Sequence[int] | slice) -> dict[str, torch.Tensor]:
        """Inputs (no labels) of several windows, trimmed of all-padding columns."""
        return trim_batch(
            {
                "input_ids": self.input_ids[indices],
                "token_type_ids": self.token_type_ids[indices],
                "attention_mask": self.attention_mask[indices],
            }
        )


def trim_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the trailing columns that are padding in every row (saves compute, same result)."""
    length = int(batch["attention_mask"].sum(dim=1).max())
    return {key: value[:, :length] if value.dim() == 2 else value for key, value in batch.items()}


def collate_windows(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``DataLoader`` collate function: stack windows, then :func:`trim_batch`."""
    return trim_batch({key: torch.stack([item[key] for item in items]) for key in items[0]})


def _answer_token_span(
    offsets: list[tuple[int, int]], char_start: int, char_end: int
) -> tuple[int, int] | None:
    """Passage-token indices of the first and last token overlapping ``[char_start, char_end)``."""
    covering = [
        i for i, (start, end) in enumerate(offsets) if end > char_start and start < char_end
    ]
    return (covering[0], covering[-1]) if covering else None


def window_starts(n_tokens: int, capacity: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` passage-token ranges of windows holding ``capacity`` tokens, overlapping by
    ``stride``."""
    if capacity <= stride:
        raise ValueError(
            f"A window holds {capacity} passage tokens, not more than stride={stride}: "
            "windows would never advance. Use a larger max_length or a smaller stride."
        )
    spans, start = [], 0
    while True:
        end = min(start + capacity, n_tokens)
        spans.append((start, end))
        if end >= n_tokens:
            return spans
        start += capacity - stride


@dataclass
class TokenizedExample:
    """One example's WordPieces: the (maybe truncated) question, the passage and its offsets."""

    question_ids: list[int]
    passage_ids: list[int]
    offsets: list[tuple[int, int]]  # per passage token: its characters in the passage
    question_truncated: bool
    answer_span: tuple[int, int] | None  # first and last passage token of the answer


def tokenize_example(
    example: QAExample, tokenizer, max_question_length: int, with_labels: bool
) -> TokenizedExample:
    """Tokenise an example's question and passage (with offsets) and locate its first answer."""
    check_text(example.question, example.context)
    # verbose=False: a passage longer than the model's 512 positions is expected here (it is
    # split into windows), so the tokenizer's "sequence length is longer" warning is noise.
    question_ids = tokenizer(example.question, add_special_tokens=False, verbose=False)
    passage = tokenizer(
        example.context, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    question_ids = question_ids["input_ids"]
    if not question_ids or not passage["input_ids"]:
        which = "question" if not question_ids else "context"
        raise ValueError(f"Example {example.id!r}: the {which} has no tokens after tokenisation.")
    answer_span = None
    if with_labels:
        if not example.is_extractive:
            raise ValueError(
                f"Example {example.id!r} has no located answer; pass with_labels=False."
            )
        char_start = example.answer_starts[0]
        found = example.context[char_start : char_start + len(example.answers[0])]
        if char_start < 0 or found != example.answers[0]:
            raise ValueError(
                f"Example {example.id!r}: the answer {example.answers[0]!r} is not at "
                f"answer_start={char_start} of the context (found {found!r} there). Fix the "
                "offset (context.find(answer) gives the first occurrence) or drop the example."
            )
        answer_span = _answer_token_span(
            passage["offset_mapping"], char_start, char_start + len(example.answers[0])
        )
    return TokenizedExample(
        question_ids[:max_question_length],
        passage["input_ids"],
        passage["offset_mapping"],
        len(question_ids) > max_question_length,
        answer_span,
    )


def window_capacity(example_id: str, question_length: int, max_length: int, stride: int) -> int:
    """Passage tokens per window after the question and 3 special tokens (more than ``stride``)."""
    capacity = max_length - question_length - 3
    if capacity <= stride:
        raise ValueError(
            f"Example {example_id!r}: after its {question_length}-token question and 3 special "
            f"tokens, a window of max_length={max_length} holds {max(capacity, 0)} passage "
            f"tokens, which must be more than stride={stride}. Raise max_length, or lower "
            "stride or max_question_length."
        )
    return capacity


def window_label(answer_span: tuple[int, int] | None, window: Window) -> tuple[int, int]:
    """The answer's first and last position in the window's input, or ``(0, 0)`` ([CLS])."""
    inside = (
        answer_span is not None
        and window.token_start <= answer_span[0]
        and answer_span[1] < window.token_end
    )
    if not inside:
        return 0, 0
    shift = window.context_offset - window.token_start
    return answer_span[0] + shift, answer_span[1] + shift


@dataclass
class WindowRows:
    """The padded model inputs, bookkeeping and labels of the windows, as they are cut."""

    max_length: int
    pad_id: int
    input_ids: list[list[int]] = field(default_factory=list)
    segments: list[list[int]] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    labels: list[tuple[int, int]] = field(default_factory=list)

    def add(self, ids: list[int], window: Window, label: tuple[int, int] | None) -> None:
        """Pad one window's ids to ``max_length``: segment 0 up to the passage, 1 after."""
        padding = self.max_length - len(ids)
        self.input_ids.append(ids + [self.pad_id] * padding)
        passage = len(ids) - window.context_offset
        self.segments.append([0] * window.context_offset + [1] * passage + [0] * padding)
        self.windows.append(window)
        if label is not None:
            self.labels.append(label)

    def features(self, examples: list[QAExample], stride: int, with_labels: bool) -> QAFeatures:
        """The windows as tensors."""
        input_ids = torch.tensor(self.input_ids)
        labels = torch.tensor(self.labels).reshape(-1, 2) if with_labels else None
        return QAFeatures(
            input_ids=input_ids,
            token_type_ids=torch.tensor(self.segments),
            attention_mask=(input_ids != self.pad_id).long(),
            windows=self.windows,
            start_positions=labels[:, 0].contiguous() if with_labels else None,
            end_positions=labels[:, 1].contiguous() if with_labels else None,
            max_length=self.max_length,
            stride=stride,
            examples=examples,
        )


def prepare_features(
    examples: Sequence[QAExample],
    tokenizer,
    max_length: int = 384,
    stride: int = 128,
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH,
    with_labels: bool | None = None,
) -> QAFeatures:
    """Tokenise ``(question, passage)`` pairs into overlapping windows with offsets and span labels.

    ``max_length`` (tokens per window, special tokens and question included)
    and ``stride`` (passage tokens shared by consecutive windows: the
    overlap, not Google's step ``doc_stride``) default to 384/128, Hugging
    Face's ``run_qa.py`` setting. A question longer than
    ``max_question_length`` WordPieces is truncated to its first
    ``max_question_length`` (as Google's ``run_squad.py`` does) with a
    warning; if the question still leaves no more than ``stride`` passage
    tokens per window, a ``ValueError`` says which limit to change.
    ``with_labels`` (default: when every example has located answers) adds
    ``start_positions``/``end_positions`` for the first answer.
    """
    if not 0 <= stride or not 0 < max_question_length:
        raise ValueError(
            f"stride must be >= 0 and max_question_length > 0, got {stride}, {max_question_length}"
        )
    examples = list(examples)
    if not examples:
        raise ValueError("No examples to tokenise.")
    if with_labels is None:
        with_labels = all(example.is_extractive for example in examples)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    rows = WindowRows(max_length, tokenizer.pad_token_id)
    truncated_questions = 0
    for index, example in enumerate(examples):
        tokens = tokenize_example(example, tokenizer, max_question_length, with_labels)
        truncated_questions += tokens.question_truncated
        question = tokens.question_ids
        capacity = window_capacity(example.id, len(question), max_length, stride)
        context_offset = len(question) + 2
        for start, end in window_starts(len(tokens.passage_ids), capacity, stride):
            ids = [cls_id, *question, sep_id, *tokens.passage_ids[start:end], sep_id]
            offsets = [None] * context_offset + list(tokens.offsets[start:end])
            offsets += [None] * (max_length - len(offsets))
            window = Window(index, start, end, context_offset, offsets, tokens.question_truncated)
            rows.add(ids, window, window_label(tokens.answer_span, window) if with_labels else None)
    if truncated_questions:
        warnings.warn(
            f"{truncated_questions} question(s) were longer than max_question_length="
            f"{max_question_length} WordPieces and were truncated to their first "
            f"{max_question_length}.",
            stacklevel=2,
        )
    return rows.features(examples, stride, with_labels)


@dataclass
class QuestionAnsweringOutput:
    """What :class:`BertForQuestionAnswering` returns."""

    start_logits: torch.Tensor  # [batch, seq]
    end_logits: torch.Tensor  # [batch, seq]
    loss: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class BertForQuestionAnswering(nn.Module):
    """BERT plus a span head: one linear layer mapping each token to (start, end) scores.

        [start_logits, end_logits] = H W + b,   W in R^{hidden x 2}

    The loss is the mean of the two cross-entropies over positions, BERT's
    SQuAD objective. Names mirror transformers' ``bert`` and ``qa_outputs``.
    """

    def __init__(self, config: BertConfig, encoder: BertModel | None = None) -> None:
        super().__init__()
        if encoder is not None and encoder.config != config:
            raise ValueError("The given encoder's config differs from config; pass encoder.config.")
        self.config = config
        self.bert = encoder if encoder is not None else BertModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        init_bert_weights(self.qa_outputs, config.initializer_range)

    @classmethod
    def from_encoder(cls, encoder: BertModel) -> BertForQuestionAnswering:
        """Put a fresh span head on an existing (e.g. pretrained) encoder."""
        return cls(encoder.config, encoder)

    def num_parameters(self) -> int:
        """Number of distinct parameters: the encoder's plus the span head's."""
        return num_parameters(self)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> QuestionAnsweringOutput:
        """Score every position as answer start and end; with positions given, also the loss."""
        encoded = self.bert(
            input_ids, token_type_ids, attention_mask, output_attentions=output_attentions
        )
        start_logits, end_logits = self.qa_outputs(encoded.last_hidden_state).unbind(dim=-1)
        loss = None
        if (start_positions is None) != (end_positions is None):
            raise ValueError("Give both start_positions and end_positions (or neither).")
        if start_positions is not None:
            seq_len = input_ids.shape[1]
            for name, positions in (
                ("start_positions", start_positions),
                ("end_positions", end_positions),
            ):
                if positions.shape != (input_ids.shape[0],) or bool(
                    ((positions < 0) | (positions >= seq_len)).any()
                ):
                    raise ValueError(
                        f"{name} must be one index in [0, {seq_len}) per sequence "
                        f"(0 = [CLS] = no answer in this window), got {positions.tolist()}"
                    )
            loss = (
                F.cross_entropy(start_logits, start_positions)
                + F.cross_entropy(end_logits, end_positions)
            ) / 2
        return QuestionAnsweringOutput(start_logits, end_logits, loss, encoded.attentions)


@dataclass
class SpanCandidate:
    """One candidate answer: its text, characters, window and tokens, and its score."""

    text: str
    score: float  # start logit + end logit
    char_start: int
    char_end: int
    window: int  # index into QAFeatures.windows
    token_start: int  # positions in that window's input_ids
    token_end: int


def best_spans(
    start_logits: Sequence[float],
    end_logits: Sequence[float],
    offsets: list,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> list[tuple[float, int, int]]:
    """``(score, start, end)`` of the valid spans among the top ``n_best`` starts x ends, best
    first.

    A span is valid when both ends are passage tokens (``offsets`` not None),
    ``end >= start`` and it has at most ``max_answer_length`` tokens. The ``n_best`` starts
    and ends are the best *passage* tokens (``run_squad.py`` takes them over all positions
    and then drops the invalid ones, so question tokens can use up its slots). A window
    without any valid span gives an empty list, never an error.
    """
    start_logits = torch.as_tensor(start_logits, dtype=torch.float32)
    end_logits = torch.as_tensor(end_logits, dtype=torch.float32)
    length = min(len(offsets), start_logits.shape[0])
    context = torch.tensor(
        [offsets[i] is not None for i in range(length)] + [False] * (start_logits.shape[0] - length)
    )
    masked_start = start_logits.masked_fill(~context, float("-inf"))
    masked_end = end_logits.masked_fill(~context, float("-inf"))
    k = min(n_best, int(context.sum()))
    if k == 0:
        return []
    top_starts = masked_start.topk(k).indices.tolist()
    top_ends = masked_end.topk(k).indices.tolist()
    spans = [
        (float(start_logits[s] + end_logits[e]), s, e)
        for s in top_starts
        for e in top_ends
        if s <= e < s + max_answer_length
    ]
    return sorted(spans, reverse=True)


def max_context_windows(windows: Sequence[Window]) -> dict[tuple[int, int], int]:
    """``{(example index, passage token): window index}``: the window where each token has its
    maximum context.

    ``run_squad.py``'s ``_check_is_max_context``: a token's context in a
    window is ``min(tokens left of it, tokens right of it)`` plus 0.01 x the
    window's length (a small bonus for longer windows; a tie goes to the first). Near a
    window's edge a token's scores are guesses made with half the context, so
    a span is only read from the window where its start token sits deepest.
    """
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for w, window in enumerate(windows):
        length = window.token_end - window.token_start
        for token in range(window.token_start, window.token_end):
            score = min(token - window.token_start, window.token_end - 1 - token) + 0.01 * length
            key = (window.example_index, token)
            if key not in best or score > best[key][0]:
                best[key] = (score, w)
    return {key: w for key, (_, w) in best.items()}


def inside_word(text: str, position: int) -> bool:
    """True when ``position`` (a span boundary) falls between two letters or digits of a word."""
    return 0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()


def postprocess_predictions(
    features: QAFeatures,
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> tuple[dict[str, str], dict[str, list[SpanCandidate]]]:
    """Window logits -> ``({id: answer text}, {id: n-best candidates})`` over the original passages.

    In order: each window's valid spans (:func:`best_spans`); spans whose
    first token has its maximum context in another window are dropped
    (:func:`max_context_windows`); spans that start or end inside a word
    (``"mar Bergman"`` out of ``"Ingmar Bergman"``) are dropped; the
    candidates of all windows are sorted by score and the n-best keeps one
    candidate per answer text (the best-scoring), as Google's
    ``run_squad.py`` does. An example for which no window has a valid span gets
    the empty answer "" (which scores 0), not an exception.
    """
    if start_logits.shape[0] != len(features) or end_logits.shape[0] != len(features):
        raise ValueError(
            f"Got logits for {start_logits.shape[0]} windows but the features have {len(features)}."
        )
    by_example: dict[int, list[SpanCandidate]] = {i: [] for i in range(len(features.examples))}
    home = max_context_windows(features.windows)
    for w, window in enumerate(features.windows):
        context = features.examples[window.example_index].context
        shift = window.token_start - window.context_offset  # input position -> passage token
        for score, s, e in best_spans(
            start_logits[w], end_logits[w], window.offsets, n_best, max_answer_length
        ):
            if home[(window.example_index, s + shift)] != w:
                continue
            char_start, char_end = window.offsets[s][0], window.offsets[e][1]
            if inside_word(context, char_start) or inside_word(context, char_end):
                continue
            by_example[window.example_index].append(
                SpanCandidate(context[char_start:char_end], score, char_start, char_end, w, s, e)
            )
    predictions, nbest = {}, {}
    for index, example in enumerate(features.examples):
        candidates, seen = [], set()
        for candidate in sorted(by_example[index], key=lambda c: c.score, reverse=True):
            if candidate.text not in seen and len(candidates) < n_best:
                seen.add(candidate.text)
                candidates.append(candidate)
        nbest[example.id] = candidates
        predictions[example.id] = candidates[0].text if candidates else ""
    return predictions, nbest


@torch.no_grad()
def predict_logits(
    model: BertForQuestionAnswering, features: QAFeatures, batch_size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits ``[windows, max_length]`` for every window (eval mode, no gradients)."""
    device = model_device(model)
    starts = torch.full((len(features), features.max_length), float("-inf"))
    ends = starts.clone()
    with eval_mode(model):
        for first in range(0, len(features), batch_size):
            batch = features.model_inputs(slice(first, first + batch_size))
            output = model(**{key: value.to(device) for key, value in batch.items()})
            width = output.start_logits.shape[1]
            starts[first : first + batch_size, :width] = output.start_logits.float().cpu()
            ends[first : first + batch_size, :width] = output.end_logits.float().cpu()
    return starts, ends


def predict_answers(
    model: BertForQuestionAnswering,
    examples: Sequence[QAExample],
    tokenizer,
    max_length: int = 384,
    stride: int = 128,
    n_best: int = 20,
    max_answer_length: int = 30,
    batch_size: int = 32,
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH,
) -> tuple[dict[str, str], dict[str, list[SpanCandidate]]]:
    """Answer every example: windows -> logits -> best spans; the predictions and n-best lists."""
    features = prepare_features(
        examples, tokenizer, max_length, stride, max_question_length, with_labels=False
    )
    start_logits, end_logits = predict_logits(model, features, batch_size)
    return postprocess_predictions(features, start_logits, end_logits, n_best, max_answer_length)


@dataclass
class ExtractiveAnswer:
    """The answer to one question, with everything needed to show how it was found."""

    answer: str
    score: float
    candidates: list[SpanCandidate]
    features: QAFeatures
    start_logits: torch.Tensor  # [windows, max_length]
    end_logits: torch.Tensor


def answer_question(
    model: BertForQuestionAnswering,
    tokenizer,
    question: str,
    context: str,
    max_length: int = 384,
    stride: int = 128,
    n_best: int = 20,
    max_answer_length: int = 30,
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH,
) -> ExtractiveAnswer:
    """Answer one question about one passage of any length.

    Any language goes in: the uncased WordPiece vocabulary has pieces for many
    scripts (Chinese characters are single tokens; unknown ones become
    ``[UNK]``), so nothing breaks, but a model fine-tuned on English questions
    answers others no better than chance would have it. The answer is always
    a span of ``context``.
    """
    check_text(question, context)
    positions = model.config.max_position_embeddings
    if max_length > positions:
        raise ValueError(
            f"max_length={max_length} is more than the model's {positions} positions; pass "
            f"max_length <= {positions} (longer passages are split into windows anyway)."
        )
    features = prepare_features(
        [QAExample("question", question, context, ())],
        tokenizer,
        max_length,
        stride,
        max_question_length,
        with_labels=False,
    )
    start_logits, end_logits = predict_logits(model, features)
    predictions, nbest = postprocess_predictions(
        features, start_logits, end_logits, n_best, max_answer_length
    )
    best = nbest["question"]
    return ExtractiveAnswer(
        predictions["question"],
        best[0].score if best else float("-inf"),
        best,
        features,
        start_logits,
        end_logits,
    )
