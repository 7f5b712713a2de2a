"""A resumed pretraining run is known by its corpus's content, and a crafted checkpoint's RNG
state is refused with a message (issue 35, the minor cases): the corpus named from another
working folder, or moved with the same bytes, resumes; a changed corpus is refused before
its data is prepared; an extra generator in a checkpoint is a message, not a traceback."""

from __future__ import annotations

import random

import pytest
import torch
from test_robustness_claims import Regression, forge, regression_batches

from bertedu.cli import main
from bertedu.data.corpus import load_corpus
from bertedu.train import TrainConfig, train
from bertedu.train.checkpoint import CheckpointMismatchError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def corpus_text():
    documents = load_corpus("embedded", limit=60)
    return "\n\n".join(" ".join(d.sentences) for d in documents) + "\n"


def pretrain(out, corpus, *flags: str) -> int:
    return main(
        ["pretrain", "--profile", "smoke", "--no-progress", "--threads", "1", "--steps", "2"]
        + ["--output", str(out), "--corpus", str(corpus), *flags]
    )


def test_a_corpus_named_from_another_folder_or_moved_resumes(
    tmp_path, corpus_text, monkeypatch, capsys
):
    (tmp_path / "data").mkdir()
    corpus = tmp_path / "data" / "corpus.txt"
    corpus.write_text(corpus_text, encoding="utf-8")
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path / "data")
    assert pretrain(out, "corpus.txt") == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)  # the same file, spelled from another working folder
    assert pretrain(out, "data/corpus.txt", "--resume") == 0
    assert "no update was left to do" in capsys.readouterr().out
    moved = tmp_path / "elsewhere.txt"
    corpus.rename(moved)  # the same bytes, moved
    assert pretrain(out, moved, "--resume") == 0


def test_a_changed_corpus_is_refused_before_its_data_is_prepared(
    tmp_path, corpus_text, monkeypatch
):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(corpus_text, encoding="utf-8")
    out = tmp_path / "run"
    assert pretrain(out, corpus) == 0
    corpus.write_text(corpus_text.replace("the", "a"), encoding="utf-8")

    from bertedu.pretraining import run

    def no_preparing(*args, **kwargs):
        raise AssertionError("the data was prepared before the corpus was compared")

    monkeypatch.setattr(run, "prepare_once", no_preparing)
    with pytest.raises(SystemExit, match="Refusing to resume .*corpus_digest: checkpoint"):
        pretrain(out, corpus, "--resume")


@pytest.mark.parametrize(
    "change",
    [
        lambda rng: rng["generators"].append("surprise"),  # named, with no state stored
        lambda rng: rng["generators"].clear(),  # the run's generator left out
        lambda rng: rng.update(generators="masking"),  # not a list
    ],
    ids=["an extra name", "the run's left out", "not a list"],
)
def test_a_checkpoint_with_other_generators_is_a_message(tmp_path, change):
    config = TrainConfig(total_steps=3, lr=0.01, checkpoint_every=2, progress=False)
    out = tmp_path / "run"

    def fit(**options):
        generators = {"masking": torch.Generator().manual_seed(0)}
        return train(
            Regression(),
            regression_batches(),
            config=config,
            checkpoint_dir=out,
            generators=generators,
            **options,
        )

    fit(stop_at_step=2)
    forge(out / "step-00000002", lambda state: change(state["rng"]))
    python_state = random.getstate()
    with pytest.raises(CheckpointMismatchError, match="generator") as refused:
        fit(resume=True)
    assert "use an earlier checkpoint" in str(refused.value).lower()
    assert random.getstate() == python_state  # nothing restored half-way


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["optimizer"]["param_groups"][0].update(betas=[0.9]), r"betas is \[0.9\]"),
        (lambda s: s["extra"].update(elapsed_s="abc"), "extra.elapsed_s is 'abc'"),
        (lambda s: s["scheduler"].update(surprise=1), r"unknown field\(s\) \['surprise'\]"),
        (lambda s: s["rng"]["generators"].append("surprise"), "generators .*'surprise'"),
    ],
    ids=["betas", "elapsed_s", "scheduler key", "generator"],
)
def test_a_crafted_pretraining_checkpoint_is_one_line_not_a_traceback(
    tmp_path, change, message, capsys
):
    out = tmp_path / "run"
    smoke = ["pretrain", "--profile", "smoke", "--no-progress", "--threads", "1"]
    assert main([*smoke, "--steps", "2", "--output", str(out)]) == 0
    forge(out / "step-00000002", change)
    capsys.readouterr()
    with pytest.raises(SystemExit, match=message) as refused:
        main([*smoke, "--steps", "3", "--extend-steps", "--resume", "--output", str(out)])
    assert refused.value.code == 2
    assert "use an earlier checkpoint" in str(refused.value).lower()
    assert "Traceback" not in capsys.readouterr().err


def test_resuming_with_the_corpus_gone_says_it_does_not_exist(tmp_path, corpus_text):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(corpus_text, encoding="utf-8")
    out = tmp_path / "run"
    assert pretrain(out, corpus) == 0
    corpus.unlink()
    with pytest.raises(SystemExit, match=f"--corpus {corpus}: .*does not exist"):
        pretrain(out, corpus, "--resume")
