"""Synthetic questions (chapter 9's data): candidates, rules, soft labels, passages, the files."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from bertedu.qa.candidates import answer_candidates, choose_candidates, sentence_of
from bertedu.qa.datasets import QAExample, load_embedded_qa, parse_squad
from bertedu.qa.extractive import prepare_features
from bertedu.qa.question_generation import generation_source, qg_example, reject_reason
from bertedu.qa.roundtrip import TeacherOutput, passage_logits, round_trip, window_soft_logits
from bertedu.qa.synthetic import (
    SYNTHETIC_QA_PATH,
    TEACHER_LABELS_PATH,
    cloze_examples,
    load_synthetic_qa,
    load_teacher_labels,
    read_json_gz,
    to_squad,
    training_passages,
    write_json_gz,
)

PASSAGE = (
    "The University of Oxford is a collegiate research university in Oxford, England. "
    "Teaching there existed in some form in 1096, and it grew rapidly from 1167. "
    "On March 3, 1921 it had 14 colleges and about 4,500 students."
)


def kinds_of(passage: str) -> dict[str, str]:
    return {c.text: c.kind for c in answer_candidates(passage)}


def test_candidates_are_spans_of_the_passage_with_their_kind():
    found = answer_candidates(PASSAGE)
    assert found, "no candidate in a passage full of names, dates and numbers"
    for candidate in found:
        assert PASSAGE[candidate.start : candidate.end] == candidate.text
    kinds = kinds_of(PASSAGE)
    assert kinds["University of Oxford"] == "name"
    assert kinds["March 3, 1921"] == "date"
    assert kinds["1096"] == "date"
    assert kinds["14 colleges"] == "number"
    assert kinds["4,500 students"] == "number"
    assert kinds["collegiate research university"] == "phrase"
    # the year inside the date is not asked for twice; a lone capitalised first word is no name
    assert "1921" not in kinds and "The" not in kinds and "On" not in kinds


def test_candidates_never_overlap():
    spans = sorted((c.start, c.end) for c in answer_candidates(PASSAGE))
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert end <= start


def test_choose_candidates_is_deterministic_distinct_and_mixes_kinds():
    found = answer_candidates(PASSAGE)
    first = choose_candidates(found, 4, "0:Oxford")
    assert first == choose_candidates(found, 4, "0:Oxford")
    assert len(first) == 4 and len({c.text.lower() for c in first}) == 4
    assert len({c.kind for c in first}) == 4  # one of each kind before any second
    assert [c.start for c in first] == sorted(c.start for c in first)
    with pytest.raises(ValueError, match="at least 1"):
        choose_candidates(found, 0, "x")


def test_sentence_of_and_generation_source():
    start = PASSAGE.index("1096")
    first, last = sentence_of(PASSAGE, start, start + 4)
    assert PASSAGE[first:last].startswith("Teaching there") and PASSAGE[first:last].endswith(".")
    source = generation_source(PASSAGE, "Oxford", start, start + 4)
    assert source == "Oxford: " + PASSAGE[first:last]
    example = qg_example("q", "1096", start, PASSAGE, "Oxford", "when did teaching start?")
    assert (example.question, example.answers) == ("1096", ("when did teaching start?",))
    with pytest.raises(ValueError, match="not at character"):
        qg_example("q", "1097", start, PASSAGE, "Oxford")


@pytest.mark.parametrize(
    ("question", "answer", "reason"),
    [
        ("when?", "1096", "too short"),
        ("when did teaching start", "1096", "not a question"),
        ("who founded [UNK] college?", "Balliol", "unknown token"),
        ("what happened in 1096 at oxford?", "1096", "contains its answer"),
        ("when did teaching at oxford start?", "1096", None),
        ("what is the university of oxfordshire?", "Oxford", None),  # a word, not a substring
    ],
)
def test_reject_reason(question, answer, reason):
    assert reject_reason(question, answer) == reason


def test_round_trip_is_exact_match_after_normalisation():
    assert round_trip("The University of Oxford.", "University of Oxford")[0]
    kept, f1 = round_trip("Oxford", "University of Oxford")
    assert not kept and 0 < f1 < 1


def test_passage_logits_read_each_token_in_its_max_context_window(tokenizer):
    # A passage cut into several windows: the stored logit of a token must be the one of the
    # window where it has the most context, and every stored character a token boundary.
    example = QAExample("x", "when did teaching start?", PASSAGE * 3, ())
    features = prepare_features([example], tokenizer, max_length=40, stride=10, with_labels=False)
    assert len(features) > 2
    # logit = 1000 * window + position, so each value says where it was read
    windows = torch.arange(len(features))[:, None].float()
    positions = torch.arange(features.max_length)[None].float()
    start, end = 1000 * windows + positions, -(1000 * windows + positions)
    ((top_start, top_end),) = passage_logits(features, start, end, top_k=1000)
    from bertedu.qa.extractive import max_context_windows

    home = max_context_windows(features.windows)
    expected = {}
    for w, window in enumerate(features.windows):
        for p, span in enumerate(window.offsets):
            if span is not None and home[(0, p + window.token_start - window.context_offset)] == w:
                expected[span[0]] = 1000 * w + p
    assert dict(top_start) == expected
    assert len(top_end) == len(expected)
    # the top-k are the k best, best first
    (best,) = [passage_logits(features, start, end, top_k=3)[0][0]]
    assert [v for _, v in best] == sorted(expected.values(), reverse=True)[:3]


def test_window_soft_logits_map_characters_onto_a_students_window(tokenizer):
    example = QAExample("x", "when did teaching start?", PASSAGE, ())
    teacher = prepare_features([example], tokenizer, max_length=192, stride=64)
    positions = torch.arange(192, dtype=torch.float32)[None]
    ((top_start, top_end),) = passage_logits(teacher, positions, -positions, top_k=5)
    labels = TeacherOutput("", -1, top_start, top_end)
    # the student cuts the same passage into small windows
    student = prepare_features([example], tokenizer, max_length=48, stride=8)
    stored_starts, stored_ends = dict(top_start), dict(top_end)
    found = set()
    for window in student.windows:
        start, end = window_soft_logits(labels, window, 48)
        for p, span in enumerate(window.offsets[:48]):
            want = stored_starts.get(span[0]) if span is not None else None
            assert start[p].item() == (want if want is not None else float("-inf"))
            want_end = stored_ends.get(span[1]) if span is not None else None
            assert end[p].item() == (want_end if want_end is not None else float("-inf"))
            if want is not None:
                found.add(span[0])
    assert found == set(stored_starts)  # every stored token lands in some student window
    # on the teacher's own window the labels give back its logits at its top-5 positions
    start, end = window_soft_logits(labels, teacher.windows[0], 192)
    finite = torch.isfinite(start).nonzero().flatten()
    assert len(finite) == 5 and torch.equal(start[finite], positions[0, finite])
    assert (
        finite.tolist()
        == sorted(p for p, span in enumerate(teacher.windows[0].offsets) if span is not None)[-5:]
    )


def test_teacher_pass_and_generation_return_outputs_in_the_inputs_order(tokenizer):
    # Both sort their inputs by length for batching; the outputs must come back in order.
    from bertedu.model import BertConfig, BertModel
    from bertedu.qa.encoders import build_model
    from bertedu.qa.question_generation import generate_questions
    from bertedu.qa.roundtrip import teacher_pass

    torch.manual_seed(0)
    config = BertConfig.tiny(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    reader = build_model("extractive", BertModel(config)).eval()
    sentences = PASSAGE.split(". ")
    examples = [
        QAExample(f"q{i}", "when did teaching start?", ". ".join(sentences[: i + 1]), ())
        for i in range(len(sentences))
    ][::-1]  # longest first: the sorted order is the reverse
    together = teacher_pass(reader, examples, tokenizer, 64, 16, top_k=3, batch_size=2)
    alone = [teacher_pass(reader, [e], tokenizer, 64, 16, top_k=3)[0] for e in examples]
    assert [(o.answer, o.answer_start) for o in together] == [
        (o.answer, o.answer_start) for o in alone
    ]
    assert [[c for c, _ in o.start] for o in together] == [[c for c, _ in o.start] for o in alone]
    writer = build_model("generative", BertModel(config)).eval()
    inputs = [QAExample(e.id, "1096", e.context, ()) for e in examples]
    written = generate_questions(writer, inputs, tokenizer, 64, 6, batch_size=1)
    assert written == [generate_questions(writer, [x], tokenizer, 64, 6)[0] for x in inputs]


def test_teacher_output_json_round_trip():
    output = TeacherOutput("1096", 120, ((120, 7.123), (5, 1.0)), ((124, 6.5),))
    again = TeacherOutput.from_json(json.loads(json.dumps(output.to_json())))
    assert again.start == ((120, 7.12), (5, 1.0)) and again.end == output.end
    assert again.answer == "1096" and again.answer_start == 120


def test_training_passages_never_touch_the_held_out_qa_set():
    dev = load_embedded_qa("dev")
    titles, contexts = {e.title for e in dev}, {e.context for e in dev}
    passages = training_passages(exclude_titles={"Peanuts"})
    assert len(passages) > 9000
    assert not {t for t, _ in passages} & (titles | {"Peanuts"})
    assert not {p for _, p in passages} & contexts
    # the QA training passages are allowed, and the order does not depend on the exclusions
    train_titles = {e.title for e in load_embedded_qa("train")}
    assert train_titles - {"Peanuts"} <= {t for t, _ in passages}
    order = [t for t, _ in training_passages()]
    assert [t for t in order if t != "Peanuts"] == [t for t, _ in passages]


def test_cloze_examples_are_deterministic_spans():
    first = cloze_examples("Oxford", PASSAGE, 3, seed=0)
    assert first == cloze_examples("Oxford", PASSAGE, 3, seed=0)
    assert len(first) == 3 and len({e.id for e in first}) == 3
    for example in first:
        start = example.answer_starts[0]
        assert PASSAGE[start : start + len(example.answers[0])] == example.answers[0]
    assert cloze_examples("Oxford", PASSAGE, 3, seed=1) != first


def test_to_squad_round_trips_through_the_squad_parser(tmp_path):
    records = [
        {
            "id": e.id,
            "title": "Oxford",
            "context": e.context,
            "question": e.question,
            "answer": e.answers[0],
            "answer_start": e.answer_starts[0],
            "kind": "cloze",
        }
        for e in cloze_examples("Oxford", PASSAGE, 3)
    ]
    data = to_squad(records)
    assert len(data["data"]) == 1 and len(data["data"][0]["paragraphs"]) == 1
    parsed = parse_squad(data)
    assert [e.id for e in parsed] == [r["id"] for r in records]
    path = tmp_path / "a.json.gz"
    write_json_gz(data, path)
    first = path.read_bytes()
    write_json_gz(data, path)
    assert path.read_bytes() == first  # no time stamp: the same data gives the same bytes
    assert read_json_gz(path) == data
    records[0]["answer_start"] += 1
    with pytest.raises(ValueError, match="is not at character"):
        parse_squad(to_squad(records))


def test_missing_files_say_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_synthetic_qa.py"):
        load_synthetic_qa(path=tmp_path / "none.json.gz")
    with pytest.raises(FileNotFoundError, match="build_synthetic_qa.py"):
        load_teacher_labels(tmp_path / "none.json.gz")
    with pytest.raises(ValueError, match="Unknown kinds"):
        load_synthetic_qa(["cloze", "invented"])


shipped = pytest.mark.skipif(
    not SYNTHETIC_QA_PATH.is_file(), reason="the synthetic question file is not built yet"
)


@shipped
def test_shipped_file_is_squad_with_no_held_out_article_or_passage():
    dev = load_embedded_qa("dev")
    examples = load_synthetic_qa()
    assert len(examples) > 1000
    assert not {e.title for e in examples} & {e.title for e in dev}
    assert not {e.context for e in examples} & {e.context for e in dev}
    for example in examples:  # parse_squad checked every answer_start already; and kinds:
        assert example.is_extractive
    with gzip.open(SYNTHETIC_QA_PATH, "rt", encoding="utf-8") as file:
        kinds = {
            qa["kind"]
            for article in json.load(file)["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        }
    assert kinds == {"cloze", "generated"}


@shipped
def test_shipped_soft_labels_cover_every_question_at_token_boundaries(tokenizer):
    examples = load_synthetic_qa()
    labels = load_teacher_labels()
    assert set(labels) == {e.id for e in examples}
    top_k = read_json_gz(TEACHER_LABELS_PATH)["top_k"]
    for example in examples[::97]:  # a spread sample: tokenising all takes minutes
        label = labels[example.id]
        assert 0 < len(label.start) <= top_k and 0 < len(label.end) <= top_k
        assert [v for _, v in label.start] == sorted((v for _, v in label.start), reverse=True)
        offsets = tokenizer(example.context, return_offsets_mapping=True, add_special_tokens=False)[
            "offset_mapping"
        ]
        starts, ends = {s for s, _ in offsets}, {e for _, e in offsets}
        assert {c for c, _ in label.start} <= starts and {c for c, _ in label.end} <= ends


@shipped
def test_shipped_file_never_uses_a_document_pretraining_holds_out():
    # The shipped BERT-Tiny's held-out documents stay unseen by chapter 9's students too.
    from book_scripts import load_script

    held_out = set(load_script("build_synthetic_qa").pretraining_held_out_titles())
    assert len(held_out) > 400
    assert not {e.title for e in load_synthetic_qa()} & held_out


@shipped
def test_the_shipped_cloze_questions_are_rebuilt_exactly_from_the_corpus():
    # The cloze half of the build needs no model: the passages (less the held-out QA articles
    # and pretraining's held-out documents) and cloze_examples give every shipped cloze
    # question again, id, question, answer and offset, and no other.
    from book_scripts import load_script

    held_out = load_script("build_synthetic_qa").pretraining_held_out_titles()
    rebuilt = [
        example
        for title, passage in training_passages(held_out, seed=0)
        for example in cloze_examples(title, passage, per_passage=1, seed=0)
    ]
    shipped = load_synthetic_qa(("cloze",))
    assert len(shipped) == 6904  # the card's count

    def fields(example: QAExample) -> tuple:
        return example.id, example.question, example.context, example.answers, example.answer_starts

    assert sorted(map(fields, rebuilt)) == sorted(map(fields, shipped))
