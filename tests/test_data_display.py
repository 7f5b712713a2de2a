"""HTML pictures of instances and masked rows: the right colour at the right token."""

import torch

from bertedu.data.display import COLOURS, instance_html, masked_row_html
from bertedu.data.nsp import Instance
from bertedu.data.pipeline import PretrainingCollator
from bertedu.tokenization import load_tokenizer


def test_instance_and_masked_row_are_coloured_by_role():
    tokenizer = load_tokenizer()
    ids = tokenizer(["the cat sat on the mat .", "it purred ."], add_special_tokens=False)[
        "input_ids"
    ]
    instance = Instance(tuple(ids[0]), tuple(ids[1]), False)
    picture = instance_html(tokenizer, instance)
    assert picture.count(COLOURS["a"]) == len(ids[0]) and picture.count(COLOURS["b"]) == len(ids[1])
    assert picture.count(COLOURS["special"]) == 3

    collator = PretrainingCollator.from_tokenizer(
        tokenizer,
        generator=torch.Generator().manual_seed(0),
        mlm_probability=1.0,
        max_predictions=None,
    )
    batch = collator([instance])
    row = masked_row_html(tokenizer, batch, 0)
    predicted = sum(row.count(COLOURS[kind]) for kind in ("mask", "random", "kept"))
    assert predicted == len(ids[0]) + len(ids[1])  # every real token chosen at probability 1
    assert row.count("[MASK]→") == (batch["input_ids"] == tokenizer.mask_token_id).sum().item()
