"""scripts/build_synthetic_qa.py on a tiny run: deterministic, resumable, the right files.

A randomly initialised one-layer BERT stands in for MiniLM (the script takes any
encoder folder), so the whole build (two trainings, cloze and generated shards,
assembly) takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from book_scripts import load_script

from bertedu.model import BertConfig, BertModel
from bertedu.qa.datasets import load_embedded_qa
from bertedu.qa.synthetic import load_synthetic_qa, load_teacher_labels, training_passages
from bertedu.train.checkpoint import save_weights

pytestmark = pytest.mark.usefixtures("one_thread")
build = load_script("build_synthetic_qa")
DATA_FILES = ("synthetic-train.json.gz", "synthetic-teacher.json.gz")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A random 1-layer, 32-wide BERT saved as an encoder folder."""
    folder = tmp_path_factory.mktemp("encoder")
    torch.manual_seed(0)
    config = BertConfig.tiny(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    save_weights(BertModel(config), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return folder


@pytest.fixture(scope="module")
def passages_file(tmp_path_factory):
    """The script's cached passage list (step 1), for six training leads (computing the
    pretraining split loads the whole corpus: a minute; the exclusion of the QA held-out
    articles is tested on the real list in test_qa_synthetic.py)."""
    path = tmp_path_factory.mktemp("passages") / "passages.json"
    path.write_text(
        json.dumps(
            {
                "pretraining_held_out_titles": [],
                "qa_dev_titles": sorted({e.title for e in load_embedded_qa("dev")}),
                "passages": training_passages()[:6],
            }
        )
    )
    return path


def run(work, out, encoder_dir, passages_file, *extra):
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "passages.json").exists():
        shutil.copy(passages_file, work / "passages.json")
    args = ["--work", str(work), "--output-dir", str(out), "--encoder", str(encoder_dir)]
    args += ["--train-limit", "8", "--teacher-epochs", "1", "--qg-epochs", "1"]
    args += ["--shard-size", "2", "--candidates-per-passage", "2", "--no-progress", *extra]
    assert build.main(args) == 0


def data_bytes(out):
    return {name: (out / name).read_bytes() for name in DATA_FILES}


@pytest.fixture(scope="module")
def first_build(tmp_path_factory, encoder_dir, passages_file):
    root = tmp_path_factory.mktemp("build")
    run(root / "work", root / "out", encoder_dir, passages_file)
    return root


def test_build_writes_squad_soft_labels_and_a_card(first_build):
    out = first_build / "out"
    examples = load_synthetic_qa(path=out / "synthetic-train.json.gz")
    assert examples, "the tiny build made no question"
    labels = load_teacher_labels(out / "synthetic-teacher.json.gz")
    assert set(labels) == {e.id for e in examples}
    for example in examples:
        label = labels[example.id]
        assert 0 < len(label.start) <= 20 and 0 < len(label.end) <= 20
        assert all(0 <= c < len(example.context) for c, _ in label.start)
        assert all(0 < c <= len(example.context) for c, _ in label.end)
    dev = load_embedded_qa("dev")
    assert not {e.title for e in examples} & {e.title for e in dev}
    card = (out / "SYNTHETIC_CARD.md").read_text()
    assert "CC BY-SA 4.0" in card and "## Counts after each filter" in card
    rebuild = next(line for line in card.splitlines() if "build_synthetic_qa.py --work" in line)
    for option in ("--teacher-epochs 1.0", "--qg-epochs 1.0", "--candidates-per-passage 2"):
        assert option in rebuild  # what decides the content is in the card's command
    stats = json.loads((first_build / "work" / "stats.json").read_text())
    assert stats["cloze"]["passages"] == 6 and stats["generated"]["passages"] == 6
    assert stats["generated"]["candidates"] == sum(
        v for k, v in stats["generated"].items() if k.startswith("candidates_")
    )
    rejected = sum(v for k, v in stats["generated"].items() if k.startswith("rejected_"))
    assert stats["generated"]["candidates"] == rejected + stats["generated"]["kept"]


def test_build_is_deterministic(first_build, tmp_path, encoder_dir, passages_file):
    run(tmp_path / "work", tmp_path / "out", encoder_dir, passages_file)
    assert data_bytes(tmp_path / "out") == data_bytes(first_build / "out")


def test_build_resumes_after_a_kill(first_build, tmp_path, encoder_dir, passages_file):
    work = tmp_path / "work"
    shutil.copytree(first_build / "work", work)
    shards = sorted((work / "shards").glob("*.json"))
    assert len(shards) == 6  # 3 cloze + 3 generated shards of 2 passages
    models = {p: p.stat().st_mtime_ns for p in work.glob("*/model.safetensors")}
    # a kill after the first shard: the later shards missing, a half-written one left behind,
    # and a training lock of a process that is gone
    for shard in shards[1:]:
        shard.unlink()
    (work / "shards" / "generated-00001.json.tmp").write_text('{"kept": [')
    (work / "teacher.lock").write_text(str(2**22 + 12345))
    run(work, tmp_path / "out", encoder_dir, passages_file)
    assert data_bytes(tmp_path / "out") == data_bytes(first_build / "out")
    assert {p: p.stat().st_mtime_ns for p in work.glob("*/model.safetensors")} == models


def test_two_workers_share_a_work_folder(first_build, tmp_path, encoder_dir, passages_file):
    work = tmp_path / "work"
    shutil.copytree(first_build / "work", work)
    for shard in (work / "shards").glob("*.json"):
        shard.unlink()
    out = tmp_path / "out"
    run(work, out, encoder_dir, passages_file, "--kinds", "cloze")
    assert not out.exists()  # generated shards missing: nothing assembled yet
    assert len(list((work / "shards").glob("cloze-*.json"))) == 3
    run(work, out, encoder_dir, passages_file, "--kinds", "generated")
    assert data_bytes(out) == data_bytes(first_build / "out")


def test_assemble_needs_no_model_and_writes_what_is_done(first_build, tmp_path, passages_file):
    # A work folder built elsewhere: shards and info.json files, no weights.
    work = tmp_path / "work"
    shutil.copytree(first_build / "work", work)
    for weights in work.glob("*/model.safetensors"):
        weights.unlink()
    (work / "qg_dev_round_trip.json").unlink()  # a build stopped before it
    for shard in (work / "shards").glob("generated-*.json"):
        shard.unlink()
    out = tmp_path / "out"
    run(work, out, "no-such-encoder", passages_file, "--assemble", "--card-note", "Built here.")
    partial = load_synthetic_qa(path=out / "synthetic-train.json.gz")
    full = load_synthetic_qa(["cloze"], path=first_build / "out" / "synthetic-train.json.gz")
    assert partial == full
    card = (out / "SYNTHETIC_CARD.md").read_text()
    assert "Shards done: 3 of 6" in card and "Built here." in card
    assert "was not recorded" in card and "| answer | real | generated |" in card


def test_a_live_trainer_is_waited_for(tmp_path):
    folder, lock = tmp_path / "teacher", tmp_path / "teacher.lock"
    lock.write_text(str(os.getpid()))  # this process is alive...
    folder.mkdir()
    (folder / "info.json").write_text("{}")  # ...but the model is already saved: no wait
    build.wait_for_other_trainer(lock, folder, poll=0.01)
    (folder / "info.json").unlink()
    lock.write_text("not a pid")
    build.wait_for_other_trainer(lock, folder, poll=0.01)  # an unreadable lock is stale
