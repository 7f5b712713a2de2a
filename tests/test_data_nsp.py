"""NSP instances: 50/50 labels, negatives from other documents, lengths, determinism, bad input."""

import random

import pytest

from bertedu.constants import CLS_ID, SEP_ID
from bertedu.data.nsp import Instance, create_instances, encode_instance, truncate_seq_pair

MAX_LEN = 64


def _documents(count=4000, seed=0):
    """Synthetic documents whose token ids say where they come from: doc * 10**6 + sentence * 10**3
    + position."""
    rng = random.Random(seed)
    documents = []
    for doc in range(count):
        sentences = []
        for sentence in range(rng.randint(1, 10)):
            sentences.append(
                [doc * 10**6 + sentence * 10**3 + pos for pos in range(rng.randint(2, 25))]
            )
        documents.append(sentences)
    return documents


def _doc(token):
    return token // 10**6


@pytest.fixture(scope="module")
def instances():
    return create_instances(_documents(), max_seq_length=MAX_LEN, rng=random.Random(0))


def test_half_of_the_pairs_are_random_next(instances):
    assert len(instances) > 7000
    rate = sum(inst.is_random_next for inst in instances) / len(instances)
    assert abs(rate - 0.5) < 0.02


def test_negatives_come_from_another_document_and_positives_continue(instances):
    for inst in instances:
        doc_a = {_doc(t) for t in inst.tokens_a}
        doc_b = {_doc(t) for t in inst.tokens_b}
        assert len(doc_a) == 1  # A is consecutive text of one document
        if inst.is_random_next:
            assert doc_a.isdisjoint(doc_b)
        else:
            assert doc_b == doc_a and max(inst.tokens_a) < min(inst.tokens_b)  # B follows A


def test_every_instance_fits_and_no_segment_is_empty(instances):
    assert all(inst.tokens_a and inst.tokens_b for inst in instances)
    assert max(len(i.tokens_a) + len(i.tokens_b) + 3 for i in instances) == MAX_LEN
    assert all(len(i.tokens_a) + len(i.tokens_b) + 3 <= MAX_LEN for i in instances)


def test_same_seed_same_instances_other_seed_different():
    docs = _documents(200)
    first = create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(7))
    assert first == create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(7))
    assert first != create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(8))


def test_short_seq_prob_makes_shorter_sequences():
    docs = _documents(300)

    def mean_length(prob):
        made = create_instances(
            docs, max_seq_length=MAX_LEN, rng=random.Random(0), short_seq_prob=prob
        )
        return sum(len(i.tokens_a) + len(i.tokens_b) for i in made) / len(made)

    assert mean_length(1.0) < 0.8 * mean_length(0.0)


def test_dupe_factor_makes_more_passes():
    docs = _documents(100)
    once = create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(0))
    thrice = create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(0), dupe_factor=3)
    assert 2.5 * len(once) < len(thrice) < 3.5 * len(once)


def test_truncation_cuts_the_longer_side_first():
    a, b = truncate_seq_pair(list(range(100)), list(range(10)), 30, random.Random(0))
    assert (len(a), len(b)) == (20, 10)
    assert a == list(range(a[0], a[0] + 20))  # a contiguous window: cut only at the ends


def test_encode_instance_layout():
    encoded = encode_instance(Instance((5, 6), (7,), False), cls_id=CLS_ID, sep_id=SEP_ID)
    assert encoded == {
        "input_ids": [CLS_ID, 5, 6, SEP_ID, 7, SEP_ID],
        "token_type_ids": [0, 0, 0, 0, 1, 1],
        "special_tokens_mask": [1, 0, 0, 1, 0, 1],
    }


def test_one_enormous_sentence_is_cut_to_fit():
    docs = [[list(range(200_000)), [1, 2, 3]], [[7, 8, 9], [10, 11]]]
    made = create_instances(docs, max_seq_length=128, rng=random.Random(0))
    assert made and all(0 < len(i.tokens_a) and 0 < len(i.tokens_b) for i in made)
    assert all(len(i.tokens_a) + len(i.tokens_b) + 3 <= 128 for i in made)


def test_one_sentence_documents_serve_only_as_negatives():
    docs = [[[d, d]] for d in range(50)] + [[[1000, 1001], [1002, 1003]]]
    made = create_instances(docs, max_seq_length=16, rng=random.Random(0), dupe_factor=20)
    assert made and all(
        i.tokens_a[0] == 1000 for i in made
    )  # only the 2-sentence document gives an A
    assert any(i.is_random_next and i.tokens_b[0] < 50 for i in made)  # but the others give Bs


def test_only_one_sentence_documents_is_a_clear_error():
    with pytest.raises(ValueError, match="single sentence"):
        create_instances([[[d, d]] for d in range(50)], max_seq_length=16, rng=random.Random(0))


@pytest.mark.parametrize("docs", [[], [[[1, 2], [3]]], [[[1, 2]], [[]], []]])
def test_fewer_than_two_documents_is_a_clear_error(docs):
    with pytest.raises(ValueError, match="at least 2 non-empty documents"):
        create_instances(docs, max_seq_length=MAX_LEN, rng=random.Random(0))


def test_too_short_max_seq_length_is_a_clear_error():
    with pytest.raises(ValueError, match="max_seq_length"):
        create_instances(_documents(3), max_seq_length=4, rng=random.Random(0))
