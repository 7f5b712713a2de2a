"""A fine-tuning interrupted inside an epoch and resumed logs that epoch's training loss over
the whole epoch (issue 35, minor cases): the running sums of the log's window travel in the
checkpoint, so the resumed run's metrics log equals an uninterrupted run's, value for value."""

from __future__ import annotations

import json

import pytest
from test_robustness_finetune_resume import ctrl_c_at_update, fine_tune, qa_data  # noqa: F401

from bertedu.train.checkpoint import latest_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

AVERAGED = ("loss", "grad_norm", "lr")  # the window's means (tokens/s and times vary)


def train_records(folder) -> list[dict]:
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [{k: r[k] for k in ("step", *AVERAGED)} for r in records if r["split"] == "train"]


def test_the_epoch_loss_after_a_resume_averages_the_whole_epoch(tmp_path, qa_data, monkeypatch):  # noqa: F811
    _, reference = fine_tune(qa_data, tmp_path / "reference")
    per_epoch = reference.train.step // 3
    with monkeypatch.context() as patch:
        ctrl_c_at_update(patch, per_epoch + 2)  # inside the second epoch
        with pytest.raises(KeyboardInterrupt):
            fine_tune(qa_data, tmp_path / "run")
    assert latest_checkpoint(tmp_path / "run").name == f"step-{per_epoch + 2:08d}"
    fine_tune(qa_data, tmp_path / "run", resume=True)
    expected = train_records(tmp_path / "reference")
    assert [r["step"] for r in expected] == [per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert train_records(tmp_path / "run") == expected


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"loss": ["abc", 1]}, r"extra.log_window 'loss' is \['abc', 1\]"),
        ({"loss": [1.0, 10**9]}, r"not \[sum, count\] of at most 2 updates"),
        ([1, 2], r"extra.log_window is \[1, 2\]"),
    ],
)
def test_a_forged_log_window_is_not_resumed(tmp_path, window, message):
    from test_robustness_claims import Regression, forge, regression_batches, set_field

    from bertedu.train import TrainConfig, train
    from bertedu.train.checkpoint import CheckpointMismatchError

    out = tmp_path / "run"
    config = TrainConfig(total_steps=3, lr=0.01, checkpoint_every=2, progress=False)
    train(Regression(), regression_batches(), config=config, checkpoint_dir=out, stop_at_step=2)
    forge(out / "step-00000002", set_field("extra.log_window", window))
    with pytest.raises(CheckpointMismatchError, match=message) as refused:
        train(Regression(), regression_batches(), config=config, checkpoint_dir=out, resume=True)
    assert "use an earlier checkpoint" in str(refused.value)
