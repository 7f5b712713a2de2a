"""A saved reader: the folder finetune-qa writes, load_reader, Reader.answer and ``answer``.

The readers come from real ``finetune-qa`` runs (smoke profile, the four questions of
``test_qa_command``'s passage): an extractive and a generative reader on each encoder it
fine-tunes. The long-passage tests use a span head that points at two fixed words, so the
windows and character offsets are checked without depending on what a tiny run learned.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_qa_command import CONTEXT, QUESTIONS, reworded, squad_file

from bertedu.cli import main
from bertedu.model import BertConfig
from bertedu.qa import NotAReaderError, Reader, load_reader, save_reader
from bertedu.qa.command import read_examples
from bertedu.qa.encoders import build_model, load_encoder
from bertedu.qa.extractive import (
    BertForQuestionAnswering,
    QuestionAnsweringOutput,
    prepare_features,
)
from bertedu.qa.finetune import finetune, get_qa_recipe
from bertedu.qa.reader import FORMAT_VERSION, MANIFEST, WEIGHTS, locate_tokens

pytestmark = pytest.mark.usefixtures("one_thread")

SHIPPED_ENCODER = Path(__file__).parents[1] / "bertedu" / "checkpoints" / "bert-tiny-wiki"

READERS = [
    ("extractive", "bert-tiny"),
    ("generative", "bert-tiny"),
    ("extractive", "minilm"),
    ("generative", "minilm"),
]


@pytest.fixture(scope="module")
def readers(tmp_path_factory) -> dict[tuple[str, str], object]:
    """``{(task, encoder): folder}``: one finetune-qa run (smoke profile) of each kind."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("readers")
    data = squad_file(root / "tiny.json")
    train = squad_file(root / "tiny-train.json", reworded(QUESTIONS))  # not the --dev file
    folders = {}
    for task, encoder in READERS:
        folder = root / f"{task}-{encoder}"
        args = ["finetune-qa", "--task", task, "--encoder", encoder, "--profile", "smoke"]
        args += ["--train", str(train), "--dev", str(data), "--output", str(folder)]
        assert main([*args, "--no-progress"]) == 0
        folders[task, encoder] = folder
    return folders


def ask(*args: str) -> subprocess.CompletedProcess:
    """``python -m bertedu answer ARGS`` in a new process."""
    return subprocess.run(
        [sys.executable, "-m", "bertedu", "answer", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("kind", READERS, ids=["-".join(kind) for kind in READERS])
def test_python_and_the_command_line_give_the_same_answer(readers, capsys, kind):
    folder = readers[kind]
    reader = load_reader(folder)
    assert reader.task == kind[0] and reader.manifest["encoder"] == kind[1]
    capsys.readouterr()
    for _, question, _ in QUESTIONS[:2]:
        expected = reader.answer(question, CONTEXT)
        args = ["answer", "--reader", str(folder), "--question", question, "--context", CONTEXT]
        assert main([*args, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == expected.to_dict()
        assert set(printed) >= {"answer", "start", "end", "score", "candidates"}
        assert printed["candidates"] and all(
            0 <= c["probability"] <= 1 for c in printed["candidates"]
        )
        if expected.start is not None:  # characters of the passage, exactly
            assert expected.found_in_passage
            located = CONTEXT[expected.start : expected.end]
            assert located == expected.answer or located.lower() == expected.answer


@pytest.mark.parametrize("kind", READERS[:2], ids=["extractive", "generative"])
def test_answers_are_the_ones_finetune_qa_scored(readers, kind):
    """The same windows and decoding as the evaluation: the saved predictions come back
    (greedy search for the generative reader: beam_width=1)."""
    folder = readers[kind]
    reader = load_reader(folder, beam_width=1)
    predictions = json.loads((folder / "predictions.json").read_text())
    assert {qid: reader.answer(q, CONTEXT).answer for qid, q, _ in QUESTIONS} == predictions


@pytest.mark.parametrize("task", ["extractive", "generative"])
def test_save_and_load_round_trip_is_bit_exact(tmp_path, tokenizer, task):
    torch.manual_seed(1)
    encoder, _ = load_encoder("bert-tiny")
    model = build_model(task, encoder).eval()
    recipe = get_qa_recipe(task, "smoke")
    save_reader(model, tmp_path / "reader", recipe=recipe, encoder="bert-tiny")
    loaded = load_reader(tmp_path / "reader")
    assert loaded.recipe == recipe and type(loaded.model) is type(model)
    saved, back = model.state_dict(), loaded.model.state_dict()
    assert saved.keys() == back.keys() and all(torch.equal(saved[k], back[k]) for k in saved)
    batch = tokenizer("Who developed BERT?", CONTEXT, return_tensors="pt")
    with torch.no_grad():
        if task == "extractive":
            before, after = model(**batch), loaded.model(**batch)
            assert torch.equal(before.start_logits, after.start_logits)
            assert torch.equal(before.end_logits, after.end_logits)
        else:
            labels = tokenizer("Google's AI team", return_tensors="pt")["input_ids"][:, 1:]
            assert torch.equal(
                model(**batch, labels=labels).logits, loaded.model(**batch, labels=labels).logits
            )
    in_memory = Reader(model, tokenizer, recipe)
    for _, question, _ in QUESTIONS:
        assert in_memory.answer(question, CONTEXT) == loaded.answer(question, CONTEXT)


# A span head that points at fixed words, over a 64-position encoder: windows are short.
POINTER_CONFIG = BertConfig.tiny(max_position_embeddings=64)


class PointingModel(BertForQuestionAnswering):
    """Start scores 10 at the word ``start_id``, end scores 10 at ``end_id``, 0 elsewhere."""

    def __init__(self, start_id: int, end_id: int) -> None:
        super().__init__(POINTER_CONFIG)
        self.start_id, self.end_id = start_id, end_id

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, **_):
        start = 10.0 * (input_ids == self.start_id).float()
        return QuestionAnsweringOutput(start, 10.0 * (input_ids == self.end_id).float())


def pointing_reader(tokenizer, start: str, end: str, **options) -> Reader:
    """A reader over :class:`PointingModel` with short windows (48 tokens, 16 shared)."""
    ids = tokenizer.convert_tokens_to_ids([start, end])
    recipe = get_qa_recipe("extractive", "smoke").replace(max_length=48, stride=16)
    return Reader(PointingModel(*ids), tokenizer, recipe, **options)


def test_an_answer_beyond_the_first_window_maps_back_to_its_characters(tokenizer):
    filler = " ".join(f"Sentence {i} says nothing about animals at all." for i in range(30))
    context = f"{filler}  The   Zürich Zebra lives here. {filler}"
    reader = pointing_reader(tokenizer, "zurich", "zebra")
    found = reader.answer("Which animal lives here?", context)
    assert len(found.windows) > 5 and found.window > 0
    assert found.answer == "Zürich Zebra" and context[found.start : found.end] == "Zürich Zebra"
    assert found.start == context.index("Zürich")
    # Its window's passage tokens carry their own characters: the answer's are there.
    window = found.windows[found.window]
    assert (found.start, found.start + len("Zürich")) in window.spans
    assert window.start[window.spans.index((found.start, found.start + len("Zürich")))] > 0.99
    assert found.candidates[0].probability > 0.98
    assert sum(window.start) == pytest.approx(1) and sum(window.end) == pytest.approx(1)
    # The first window never saw the zebra: the span was found further on.
    assert found.start > max(end for _, end in found.windows[0].spans)


def test_empty_question_or_passage_is_refused(tokenizer, readers, capsys):
    reader = pointing_reader(tokenizer, "zurich", "zebra")
    with pytest.raises(ValueError, match="question is empty"):
        reader.answer("  ", CONTEXT)
    with pytest.raises(ValueError, match="context is empty"):
        reader.answer("Who?", "")
    folder = str(readers["generative", "bert-tiny"])
    assert main(["answer", "--reader", folder, "--question", "", "--context", CONTEXT]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "question is empty" in error


def test_locating_a_written_answer_in_the_passage(tokenizer):
    passage = "BERT was developed by Google's AI team in 2018."
    tokens = tokenizer(passage, add_special_tokens=False, return_offsets_mapping=True)

    def locate(answer: str):
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        return locate_tokens(ids, tokens["input_ids"], tokens["offset_mapping"], passage)

    start, end = locate("google's ai team")  # what an uncased reader writes
    assert passage[start:end] == "Google's AI team"
    assert locate("microsoft") is None and locate("") is None


def test_questions_file_and_context_file(readers, tmp_path, capsys):
    folder = readers["extractive", "bert-tiny"]
    reader = load_reader(folder)
    (tmp_path / "questions.txt").write_text("Who developed BERT?\n\n  When was BERT developed?\n")
    (tmp_path / "passage.txt").write_text(CONTEXT, "utf-8")
    args = ["answer", "--reader", str(folder), "--context-file", str(tmp_path / "passage.txt")]
    capsys.readouterr()
    assert main([*args, "--questions", str(tmp_path / "questions.txt")]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    questions = ["Who developed BERT?", "When was BERT developed?"]
    assert [line.pop("question") for line in lines] == questions
    assert lines == [reader.answer(q, CONTEXT).to_dict() for q in questions]
    assert main([*args, "--question", "Who developed BERT?"]) == 0  # plain text
    printed = capsys.readouterr().out
    assert printed.startswith(lines[0]["answer"]) and "candidates (probability)" in printed
    missing = ["--reader", str(folder), "--question", "Who?", "--context-file", "nowhere.txt"]
    assert main(["answer", *missing]) == 2
    assert "--context-file nowhere.txt does not exist" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pretraining_run(tmp_path_factory):
    """A real pretraining run folder (one update of the smoke profile)."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    assert (
        main(
            [
                "pretrain",
                "--profile",
                "smoke",
                "--steps",
                "1",
                "--output",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    return out


def test_a_pretraining_run_is_refused_in_one_line_with_status_2(pretraining_run):
    done = ask("--reader", str(pretraining_run), "--question", "Who?", "--context", CONTEXT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "is a pretraining run" in done.stderr
    assert "finetune-qa" in done.stderr
    with pytest.raises(NotAReaderError, match="training checkpoint of a BertForPreTraining"):
        load_reader(next(pretraining_run.glob("step-*")))


def test_an_unfinished_finetune_qa_run_is_named(tmp_path, tokenizer):
    """Checkpoints of a reader's training but no manifest yet: not called a pretraining run."""
    recipe = get_qa_recipe("extractive", "smoke").replace(batch_size=4)
    model = build_model("extractive", load_encoder("bert-tiny")[0])
    examples = read_examples(squad_file(tmp_path / "tiny.json"), "train", None)
    features = prepare_features(examples, tokenizer, recipe.max_length, recipe.stride)
    generator = torch.Generator().manual_seed(0)
    finetune(model, features, recipe, generator=generator, checkpoint_dir=str(tmp_path / "run"))
    unfinished = "a finetune-qa run that has not finished .* of a BertForQuestionAnswering"
    with pytest.raises(NotAReaderError, match=unfinished):
        load_reader(tmp_path / "run")
    with pytest.raises(NotAReaderError, match="a finetune-qa checkpoint"):
        load_reader(next((tmp_path / "run").glob("step-*")))


def test_folders_that_are_not_readers(readers, tmp_path):
    good = readers["extractive", "bert-tiny"]
    with pytest.raises(NotAReaderError, match="does not exist"):
        load_reader(tmp_path / "nothing")
    with pytest.raises(NotAReaderError, match="holds a BERT encoder"):
        load_reader(SHIPPED_ENCODER)
    # a reader saved by save_reader alone (no fine-tuning checkpoints beside it), killed
    # before the manifest, which is written last
    half = shutil.copytree(good, tmp_path / "half", ignore=shutil.ignore_patterns("step-*"))
    (half / MANIFEST).unlink()
    with pytest.raises(NotAReaderError, match=f"half-written: it has {WEIGHTS} but no"):
        load_reader(half)
    no_weights = shutil.copytree(good, tmp_path / "no-weights")
    (no_weights / WEIGHTS).unlink()
    with pytest.raises(NotAReaderError, match=f"half-written: its manifest is there but {WEIGHTS}"):
        load_reader(no_weights)
    newer = shutil.copytree(good, tmp_path / "newer")
    manifest = json.loads((newer / MANIFEST).read_text())
    (newer / MANIFEST).write_text(json.dumps(manifest | {"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(NotAReaderError, match=f"format version {FORMAT_VERSION + 1}, newer"):
        load_reader(newer)
    other = shutil.copytree(good, tmp_path / "other")
    manifest["encoder_config"]["hidden_size"] = 64
    (other / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(NotAReaderError, match="does not hold that reader's weights"):
        load_reader(other)


def test_a_folder_from_before_format_versions_still_loads(readers, tmp_path):
    good = readers["generative", "bert-tiny"]
    old = shutil.copytree(good, tmp_path / "old")
    manifest = json.loads((old / MANIFEST).read_text())
    for key in ("format", "format_version", "tokenizer"):
        del manifest[key]
    (old / MANIFEST).write_text(json.dumps(manifest))
    question = QUESTIONS[0][1]
    assert load_reader(old).answer(question, CONTEXT) == load_reader(good).answer(question, CONTEXT)
