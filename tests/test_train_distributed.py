"""DDP: two CPU processes (gloo) take the same step as one process on the same global batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from bertedu.constants import IGNORE_INDEX
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.train import TrainConfig, train
from bertedu.train.distributed import shard

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = BertConfig.tiny(
    vocab_size=300,
    max_position_embeddings=32,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
TRAIN = TrainConfig(total_steps=1, lr=1e-2, max_grad_norm=1.0, progress=False)


def global_batch() -> dict[str, torch.Tensor]:
    """8 rows, 3 masked positions in every row, so each half has as many MLM targets as the other.

    (DDP averages the per-process mean losses; that equals the global mean only
    when every process averages over the same number of terms.)
    """
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 300, (8, 16), generator=g)
    labels = torch.full_like(ids, IGNORE_INDEX)
    for row in range(8):
        positions = torch.randperm(14, generator=g)[:3] + 1
        labels[row, positions] = ids[row, positions]
    return {
        "input_ids": ids,
        "token_type_ids": torch.zeros_like(ids),
        "attention_mask": torch.ones_like(ids),
        "labels": labels,
        "next_sentence_label": torch.tensor([0, 1, 1, 0, 1, 0, 0, 1]),
    }


def one_step() -> BertForPreTraining:
    torch.manual_seed(0)
    model = BertForPreTraining(CONFIG)
    train(model, [global_batch()], config=TRAIN)
    return model


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
    model = one_step()
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
    single = one_step().state_dict()
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


def test_shard_splits_rows_evenly():
    batch = {"x": torch.arange(8)}
    assert shard(batch, 1, 2)["x"].tolist() == [4, 5, 6, 7]
    try:
        shard(batch, 0, 3)
    except ValueError as error:
        assert "divisible" in str(error)
    else:
        raise AssertionError("an uneven split must be refused")
