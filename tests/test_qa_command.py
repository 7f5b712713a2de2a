"""``python -m bertedu finetune-qa`` on a tiny SQuAD-format file it never saw."""

from __future__ import annotations

import json

import pytest
import torch

from bertedu.cli import main
from bertedu.qa.encoders import build_model, load_encoder
from bertedu.train.checkpoint import load_weights

pytestmark = pytest.mark.usefixtures("one_thread")

CONTEXT = "BERT is a language model. It was developed by Google's AI team in 2018 in Mountain View."
QUESTIONS = [
    ("q1", "Who developed BERT?", "Google's AI team"),
    ("q2", "When was BERT developed?", "2018"),
    ("q3", "What is BERT?", "a language model"),
    ("q4", "Where was BERT developed?", "Mountain View"),
]


def squad_file(path, questions=QUESTIONS):
    """A SQuAD v1.1 file without a "version" key."""
    qas = [
        {"id": i, "question": q, "answers": [{"text": a, "answer_start": CONTEXT.index(a)}]}
        for i, q, a in questions
    ]
    data = {"data": [{"title": "BERT", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    path.write_text(json.dumps(data))
    return path


def reworded(questions):
    """The same answers asked in other words: a --train file that is not the --dev file."""
    return [(i, q.rstrip("?") + " in the passage?", a) for i, q, a in questions]


def run(
    tmp_path, task: str, out_name: str = "out", train=None, dev=None, encoder="bert-tiny", *more
):
    data = squad_file(tmp_path / "tiny.json")
    asked_again = squad_file(tmp_path / "tiny-train.json", reworded(QUESTIONS))  # not --dev
    args = ["finetune-qa", "--task", task, "--encoder", encoder, "--profile", "smoke"]
    args += ["--train", str(train or asked_again), "--dev", str(dev or data), *more]
    return main([*args, "--output", str(tmp_path / out_name), "--no-progress"])


@pytest.mark.parametrize("task", ["extractive", "generative"])
def test_finetune_qa_writes_model_predictions_and_metrics(tmp_path, capsys, task):
    assert run(tmp_path, task) == 0
    out = tmp_path / "out"
    assert "4 training and 4 held-out questions" in capsys.readouterr().out
    predictions = json.loads((out / "predictions.json").read_text())
    assert sorted(predictions) == ["q1", "q2", "q3", "q4"]
    assert all(isinstance(text, str) for text in predictions.values())
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["f1"] <= 100 and metrics["n_train"] == 4 and metrics["n_dev"] == 4
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == task and config["qa_recipe"]["max_length"] == 128
    # The saved weights load back into a freshly built reader and equal the trained ones.
    encoder, _ = load_encoder("bert-tiny")
    model = build_model(task, encoder)
    if task == "generative":
        assert config["copy"] and config["warm_start"]
    load_weights(model, out / "model.safetensors")
    reloaded = build_model(task, load_encoder("bert-tiny")[0])
    assert any(
        not torch.equal(a, b)
        for a, b in zip(model.parameters(), reloaded.parameters(), strict=True)
    )  # the file holds the fine-tuned weights, not the starting ones


def test_clear_errors(tmp_path):
    not_json = tmp_path / "bad.txt"
    not_json.write_text("question,answer\n")
    with pytest.raises(SystemExit, match="is not JSON"):
        run(tmp_path, "extractive", train=not_json)
    not_squad = tmp_path / "list.json"
    not_squad.write_text(json.dumps([{"question": "Who?"}]))
    with pytest.raises(SystemExit, match="not in the SQuAD format"):
        run(tmp_path, "extractive", train=not_squad)
    with pytest.raises(SystemExit, match="has no question"):
        run(tmp_path, "extractive", dev=squad_file(tmp_path / "empty.json", questions=[]))
    with pytest.raises(SystemExit, match="Unknown encoder 'bert-huge'"):
        run(tmp_path, "extractive", encoder="bert-huge")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(SystemExit, match="is not empty"):
        run(tmp_path, "extractive", out_name="taken")


def test_validation_split_keeps_the_best_epoch(tmp_path, capsys):
    data = squad_file(tmp_path / "tiny.json")
    two = json.loads(data.read_text())
    other = "Ingmar Bergman directed The Seventh Seal in 1957."
    qas = [
        {
            "id": "s1",
            "question": "Who directed it?",
            "answers": [{"text": "Ingmar Bergman", "answer_start": 0}],
        }
    ]
    two["data"][0]["paragraphs"].append({"context": other, "qas": qas})
    (tmp_path / "two.json").write_text(json.dumps(two))
    more = ("--validation-fraction", "0.5", "--epochs", "3")
    assert run(tmp_path, "extractive", "out", tmp_path / "two.json", None, "bert-tiny", *more) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    curve = metrics["validation_curve"]
    assert [row["epoch"] for row in curve] == [1, 2, 3] and metrics["n_train"] == 5
    best = max(curve, key=lambda row: row["f1"])
    assert metrics["best_epoch"] == best["epoch"]
    assert f"kept the weights of epoch {best['epoch']}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="at least two passages.*--validation-fraction 0"):
        run(tmp_path, "extractive", "one", None, None, "bert-tiny", "--validation-fraction", "0.5")
