"""A checkpoint's log window (the running sums of the values not yet logged, which let a run
resumed inside an epoch log that whole epoch's loss: test_robustness_finetune_resume) is
checked like the rest of the checkpoint: a forged one is refused naming the field."""

from __future__ import annotations

import pytest


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
