"""Question generation: the copying encoder-decoder, run backwards.

Chapter 7's generative reader reads ``[CLS] question [SEP] passage [SEP]``
and writes the answer. Swap the roles and the same model writes questions:
it reads ``[CLS] answer [SEP] source [SEP]`` and writes a question whose
answer is ``answer``. The answer in the first segment is the "highlight"
(which phrase to ask about); the source, in the second segment, is what the
pointer may copy from.

The source is the answer's *sentence* with the article's title in front
(``"Peanuts: Peanuts is a syndicated daily ... strip written by Charles M.
Schulz ..."``), not the whole passage: most questions are answered inside one
sentence (Du et al. 2017 generate from the sentence too), the title says what
"it" refers to, and a 40-token source instead of a 140-token passage makes
training and greedy decoding on one CPU core 2-3 times faster (measured for
this module: 3.4 s instead of 7.3 s for 16 greedy steps of 32 questions with
MiniLM). The round-trip filter (:mod:`bertedu.qa.roundtrip`) then asks the
extractive reader the question about the whole passage.
"""

from __future__ import annotations

from collections.abc import Sequence

from bertedu.qa.candidates import sentence_of
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import generate_answers
from bertedu.qa.generative import prepare_seq2seq_features
from bertedu.qa.metrics import normalize_answer


def generation_source(passage: str, title: str, start: int, end: int) -> str:
    """The question generator's second segment: ``"title: sentence"`` for the answer at
    characters ``[start, end)`` of ``passage``."""
    first, last = sentence_of(passage, start, end)
    sentence = passage[first:last]
    return f"{title}: {sentence}" if title else sentence


def qg_example(
    qid: str, answer: str, start: int, passage: str, title: str, question: str = ""
) -> QAExample:
    """One question-generation input as a :class:`QAExample`: the answer sits in ``question``
    (the first segment), the source in ``context``, the question to write (if known) is the
    reference ``answers[0]``."""
    if passage[start : start + len(answer)] != answer:
        raise ValueError(
            f"{qid}: the answer {answer!r} is not at character {start} of its passage."
        )
    source = generation_source(passage, title, start, start + len(answer))
    return QAExample(qid, answer, source, (question,) if question else ())


def qg_training_examples(examples: Sequence[QAExample]) -> list[QAExample]:
    """Real QA examples turned around: answer + source in, the real question out."""
    return [
        qg_example(e.id, e.answers[0], e.answer_starts[0], e.context, e.title, e.question)
        for e in examples
    ]


def generate_questions(
    model,
    inputs: Sequence[QAExample],
    tokenizer,
    max_length: int = 96,
    max_new_tokens: int = 32,
    batch_size: int = 32,
) -> list[str]:
    """A question for every input of :func:`qg_example`, by batched greedy decoding.

    The inputs are decoded in order of their source's length (a batch is cut to its
    longest row, so similar lengths waste less on padding); the questions come back in
    the inputs' order.
    """
    order = sorted(range(len(inputs)), key=lambda i: (len(inputs[i].context), i))
    features = prepare_seq2seq_features(
        [inputs[i] for i in order], tokenizer, max_length, max_new_tokens, with_labels=False
    )
    written = generate_answers(
        model, features, tokenizer, "greedy", max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    questions = [""] * len(inputs)
    for position, i in enumerate(order):
        questions[i] = written[position]
    return questions


def reject_reason(question: str, answer: str) -> str | None:
    """Why a generated question is unusable before it is even asked, or ``None``.

    ``"too short"`` (under three words), ``"not a question"`` (no final ``?``),
    ``"unknown token"`` (``[UNK]``, which the decoder writes for characters it
    cannot spell) or ``"contains its answer"`` (the question gives the answer
    away, so a reader learns nothing from it).
    """
    words = question.split()
    if len(words) < 3:
        return "too short"
    if not question.rstrip().endswith("?"):
        return "not a question"
    if "[UNK]" in question:
        return "unknown token"
    said, asked = normalize_answer(answer), f" {normalize_answer(question)} "
    if said and f" {said} " in asked:
        return "contains its answer"
    return None
