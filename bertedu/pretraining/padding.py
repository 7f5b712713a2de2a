"""How much of a run's batches is padding, and how many batches carry none.

Padding costs a step twice. Its token slots are computed like real ones (a share
``p`` of padding wastes about ``p`` of the encoder's work), and a batch with any
padding needs an attention mask, which on a GPU rules out the fastest (flash)
attention kernel; a batch without padding can go without one
(:func:`bertedu.train.loop.without_full_attention_mask`). Both numbers come from
the instances' lengths alone, so a whole epoch is measured without collating it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertedu.pretraining.data import PretrainingBatches

SPECIAL_TOKENS = 3  # [CLS] A [SEP] B [SEP]


@dataclass(frozen=True)
class PaddingReport:
    """The padding of one epoch of batches."""

    batches: int
    slot_share: float  # share of the token slots (rows x padded length) that hold padding
    unpadded_batch_share: float  # share of the batches in which no row is padded


def padding_report(batches: PretrainingBatches, *, epoch: int = 0) -> PaddingReport:
    """The padding of ``epoch``'s batches, padded as the collator pads them (to its
    ``pad_to`` when set, else to the batch's longest instance)."""
    instances = batches.instances_of_epoch(epoch)
    lengths = [len(i.tokens_a) + len(i.tokens_b) + SPECIAL_TOKENS for i in instances]
    pad_to = batches.collator.pad_to
    slots = real = unpadded = 0
    order = batches.epoch_order(epoch)
    for rows in order:
        row_lengths = [lengths[row] for row in rows]
        width = pad_to or max(row_lengths)
        slots += width * len(rows)
        real += sum(row_lengths)
        unpadded += all(length == width for length in row_lengths)
    if not order:
        raise ValueError(f"epoch {epoch} has no batch: use more documents or a smaller batch")
    return PaddingReport(len(order), 1 - real / slots, unpadded / len(order))
