"""Sentence pairs for next-sentence prediction, built as Google's ``create_pretraining_data.py``
does.

Each training sequence is ``[CLS] A [SEP] B [SEP]``. A is one or more
consecutive sentences of a document; half of the time B is the text that really
follows A in the same document, otherwise B comes from a *different* document
(``is_random_next``). Working on whole sentences inside document boundaries is
what makes the task meaningful: a "random" B drawn from the same document, or a
pair cut at arbitrary tokens, would teach the model nothing about coherence.

Where this module differs from Google's code, it fixes a flaw:

* the random document is drawn from the *other* documents, never A's own
  (Google retries 10 times and can still end up with A's document);
* a chunk is closed only once it holds at least two sentences, and a single
  sentence left at the end of a document starts no pair: it has no true
  continuation, and Google's code always made it a negative, which pushes the
  labels away from 50/50 (to about 58% "random" on short documents). Such
  sentences still serve as random B segments for other documents;
* a sentence longer than the whole sequence is cut to the sequence budget at
  the start, so that an enormous sentence costs no more than a normal one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

TokenizedDocument = Sequence[Sequence[int]]  # a document: its sentences, each a list of token ids
NUM_SPECIAL_TOKENS = 3  # [CLS] A [SEP] B [SEP]


@dataclass(frozen=True)
class Instance:
    """One NSP training pair, token ids without special tokens."""

    tokens_a: tuple[int, ...]
    tokens_b: tuple[int, ...]
    is_random_next: bool


def encode_instance(instance: Instance, *, cls_id: int, sep_id: int) -> dict[str, list[int]]:
    """``[CLS] A [SEP] B [SEP]`` with segment ids (0 for A and its [SEP], 1 for B) and the
    special-token mask."""
    len_a, len_b = len(instance.tokens_a), len(instance.tokens_b)
    return {
        "input_ids": [cls_id, *instance.tokens_a, sep_id, *instance.tokens_b, sep_id],
        "token_type_ids": [0] * (len_a + 2) + [1] * (len_b + 1),
        "special_tokens_mask": [1] + [0] * len_a + [1] + [0] * len_b + [1],
    }


def truncate_seq_pair(
    tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Shorten the pair to ``max_num_tokens`` by removing tokens from the longer side, at a random
    end.

    Always cutting the longer side keeps both segments as long as possible;
    cutting from the front or the back at random (instead of always the back)
    avoids teaching the model that sentences never start mid-way, which is
    what pairs cut at one end only would look like.
    """
    a_start, a_end, b_start, b_end = 0, len(tokens_a), 0, len(tokens_b)
    while (a_end - a_start) + (b_end - b_start) > max_num_tokens:
        cut_a = (a_end - a_start) > (b_end - b_start)
        from_front = rng.random() < 0.5
        if cut_a and from_front:
            a_start += 1
        elif cut_a:
            a_end -= 1
        elif from_front:
            b_start += 1
        else:
            b_end -= 1
    return tokens_a[a_start:a_end], tokens_b[b_start:b_end]


def _usable_documents(
    documents: Sequence[TokenizedDocument], max_num_tokens: int
) -> list[list[list[int]]]:
    """Drop empty sentences and documents; cut over-long sentences to the sequence budget."""
    usable = []
    for document in documents:
        sentences = [list(sentence[:max_num_tokens]) for sentence in document if len(sentence) > 0]
        if sentences:
            usable.append(sentences)
    if len(usable) < 2:
        raise ValueError(
            "Next-sentence prediction needs at least 2 non-empty documents (negatives come from a "
            f"different document); got {len(usable)} out of {len(documents)}. Add more text, or "
            "check that the documents were tokenized (each a list of sentences, each a list of "
            "token ids)."
        )
    if all(len(document) < 2 for document in usable):
        raise ValueError(
            "Every document has a single sentence, so no pair with a true next sentence exists. "
            "Give documents of several sentences (split text with "
            "bertedu.data.sentences.split_sentences)."
        )
    return usable


def _random_other_document(
    documents: list[list[list[int]]], document_index: int, rng: random.Random
) -> list[list[int]]:
    # Draw from the n-1 other documents directly: a negative from A's own document would be
    # topically related and could even be the true next sentence.
    other = rng.randint(0, len(documents) - 2)
    return documents[other + 1 if other >= document_index else other]


def _pair_from_chunk(
    chunk: list[list[int]],
    documents: list[list[list[int]]],
    document_index: int,
    target_seq_length: int,
    rng: random.Random,
) -> tuple[list[int], list[int], bool, int]:
    """Split a chunk of >= 2 sentences into A and B; returns ``(a, b, is_random_next,
    unused_sentences)``."""
    # A ends at a random sentence boundary, so A and B vary in length from pair to pair.
    a_end = rng.randint(1, len(chunk) - 1)
    tokens_a = [token for sentence in chunk[:a_end] for token in sentence]
    if rng.random() >= 0.5:
        return tokens_a, [token for sentence in chunk[a_end:] for token in sentence], False, 0
    # Random next: B is text from another document, starting at a random sentence, as long as
    # the room A leaves. The chunk's sentences after A are unused: the caller puts them back.
    target_b_length = target_seq_length - len(tokens_a)
    random_document = _random_other_document(documents, document_index, rng)
    tokens_b: list[int] = []
    for sentence in random_document[rng.randint(0, len(random_document) - 1) :]:
        tokens_b.extend(sentence)
        if len(tokens_b) >= target_b_length:
            break
    return tokens_a, tokens_b, True, len(chunk) - a_end


def _instances_from_document(
    documents: list[list[list[int]]],
    document_index: int,
    max_seq_length: int,
    short_seq_prob: float,
    rng: random.Random,
) -> list[Instance]:
    document = documents[document_index]
    max_num_tokens = max_seq_length - NUM_SPECIAL_TOKENS
    # Fill sequences to the maximum most of the time (padding wastes compute), but sometimes aim
    # shorter so the model also sees the short sequences it will meet when fine-tuned.
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    # Gather whole sentences into a chunk until it reaches the target, then split the chunk
    # into A and B at a sentence boundary: real sentences, not arbitrary token spans.
    instances = []
    current_chunk: list[list[int]] = []
    current_length = 0
    i = 0
    while i < len(document):
        current_chunk.append(document[i])
        current_length += len(document[i])
        # A chunk needs two sentences to have a true continuation, so a first sentence that
        # already fills the target takes the next one along (truncation then makes it fit).
        if i == len(document) - 1 or (
            current_length >= target_seq_length and len(current_chunk) >= 2
        ):
            if len(current_chunk) >= 2:
                tokens_a, tokens_b, is_random_next, unused = _pair_from_chunk(
                    current_chunk, documents, document_index, target_seq_length, rng
                )
                i -= unused  # put the unused sentences back: they start the next chunk
                tokens_a, tokens_b = truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                instances.append(Instance(tuple(tokens_a), tuple(tokens_b), is_random_next))
            current_chunk = []
            current_length = 0
        i += 1
    return instances


def create_instances(
    documents: Sequence[TokenizedDocument],
    *,
    max_seq_length: int,
    rng: random.Random,
    short_seq_prob: float = 0.1,
    dupe_factor: int = 1,
) -> list[Instance]:
    """Build shuffled NSP instances from tokenized documents.

    Args:
        documents: documents, each a list of sentences, each a list of token ids
            (no special tokens). Empty sentences and documents are skipped.
        max_seq_length: length of ``[CLS] A [SEP] B [SEP]`` that every instance fits.
        rng: the only source of randomness; the same seed gives the same instances.
        short_seq_prob: probability of aiming a sequence at a random shorter length.
        dupe_factor: passes over the corpus, each with different chunk boundaries and
            pairings (Google used 10 with static masks; with dynamic masking 1 is usual).
    """
    if max_seq_length < NUM_SPECIAL_TOKENS + 2:
        raise ValueError(
            f"max_seq_length={max_seq_length} leaves no room for two segments "
            f"next to [CLS] and two [SEP]s; use at least {NUM_SPECIAL_TOKENS + 2}."
        )
    if not 0.0 <= short_seq_prob <= 1.0:
        raise ValueError(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    if dupe_factor < 1:
        raise ValueError(f"dupe_factor must be at least 1, got {dupe_factor}")
    usable = _usable_documents(documents, max_seq_length - NUM_SPECIAL_TOKENS)
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(usable)):
            instances.extend(
                _instances_from_document(
                    usable, document_index, max_seq_length, short_seq_prob, rng
                )
            )
    # Neighbouring instances come from the same document; shuffle so a batch mixes documents.
    rng.shuffle(instances)
    return instances
