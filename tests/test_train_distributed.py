"""DDP: two CPU processes (gloo) take the same step as one process on the same global batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from small_models import TINY_NO_DROPOUT as CONFIG
from small_models import masked_batch

from bertedu.model import BertForPreTraining
from bertedu.pretraining import get_recipe
from bertedu.pretraining.run import batch_for_processes
from bertedu.train import TrainConfig, train
from bertedu.train.distributed import (
    DistributedInfo,
    mean_across_processes,
    shard,
    split_batch,
    sum_across_processes,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TRAIN = TrainConfig(total_steps=1, lr=1e-2, max_grad_norm=1.0, progress=False)


def global_batch() -> dict[str, torch.Tensor]:
    """8 rows, 3 masked positions in every row, so each half has as many MLM targets as the other.

    (DDP averages the per-process mean losses; that equals the global mean only
    when every process averages over the same number of terms.)
    """
    return masked_batch([3] * 8, next_sentence_label=(0, 1, 1, 0, 1, 0, 0, 1))


def one_step() -> tuple[BertForPreTraining, float]:
    """The model after one update, and the logged loss of that update."""
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG)
    result = train(model, [global_batch()], config=TRAIN)
    return model, result.losses[1]


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from bertedu.train.distributed import cleanup, init_distributed

    info = init_distributed(backend="gloo")
    assert (info.rank, info.world_size) == (rank, world_size)
    model, loss = one_step()
    save_file(
        {"logged_loss": torch.tensor([loss], dtype=torch.float64)},
        f"{out}/loss{rank}.safetensors",
    )
    save_file(
        {
            k: v.contiguous()
            for k, v in model.state_dict().items()
            if k != "cls.predictions.decoder.weight"
        },
        f"{out}/rank{rank}.safetensors",
    )
    cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    single_model, single_loss = one_step()
    single = single_model.state_dict()
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2)]
    torch.manual_seed(0)
    initial = BertForPreTraining(CONFIG).state_dict()
    changed = 0
    for name, tensor in ranks[0].items():
        assert torch.equal(tensor, ranks[1][name]), f"{name} differs between the two processes"
        torch.testing.assert_close(
            tensor, single[name], rtol=0, atol=1e-6, msg=f"{name}: DDP != single process"
        )
        changed += not torch.equal(tensor, initial[name])
    assert changed > 10  # the step really moved the weights
    # Every process logs the loss of the whole global batch (all-reduced), not of its half.
    logged = [
        float(load_file(str(tmp_path / f"loss{r}.safetensors"))["logged_loss"]) for r in (0, 1)
    ]
    assert logged[0] == logged[1]
    assert logged[0] == pytest.approx(single_loss, abs=1e-6)


def test_shard_splits_rows_evenly_and_drops_the_remainder():
    batch = {"x": torch.arange(8)}
    assert shard(batch, 1, 2)["x"].tolist() == [4, 5, 6, 7]
    assert [shard(batch, rank, 3)["x"].tolist() for rank in range(3)] == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize(
    ("batch", "world", "per_rank", "used"),
    [(256, 1, 256, 256), (256, 2, 128, 256), (256, 3, 85, 255), (256, 7, 36, 252), (8, 8, 1, 8)],
)
def test_split_batch_serves_any_number_of_processes(batch, world, per_rank, used):
    split = split_batch(batch, world)
    assert (split.per_rank, split.used, split.dropped) == (per_rank, used, batch - used)
    assert ("fewer" in split.describe()) == (used != batch)


def test_split_batch_refuses_fewer_rows_than_processes():
    with pytest.raises(ValueError, match="use batch_size >= 16 or fewer processes"):
        split_batch(8, 16)


def test_batch_is_fitted_to_the_processes_before_any_data_is_read(monkeypatch):
    recipe = get_recipe("gpu")
    three = DistributedInfo(rank=1, world_size=3)
    assert batch_for_processes(recipe, three).batch_size == 255
    assert batch_for_processes(recipe, DistributedInfo()) is recipe
    with pytest.raises(ValueError, match="fewer processes"):
        batch_for_processes(recipe.replace(batch_size=2), three)


def test_reductions_are_identities_in_one_process():
    values = {"loss": 2.5, "mlm_loss": 2.0}
    assert mean_across_processes(values, torch.device("cpu")) == values
    assert sum_across_processes(7, torch.device("cpu")) == 7
