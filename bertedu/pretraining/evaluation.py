"""Held-out metrics of a ``BertForPreTraining``: MLM loss, perplexity and accuracy, NSP accuracy."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.nn_utils import model_device
from bertedu.train.batches import Batch


@torch.no_grad()  # also keeps the MLM logits: training fuses them away (bertedu.model.fused_loss)
def evaluate_pretraining(
    model: nn.Module, batches: Iterable[Batch], device: torch.device | str | None = None
) -> dict[str, float]:
    """Held-out MLM and NSP metrics of a ``BertForPreTraining``, pooled over all batches.

    * ``mlm_loss``: mean cross-entropy over every masked position (token-weighted,
      so a batch with more predictions counts more); ``mlm_perplexity = exp(mlm_loss)``;
    * ``mlm_accuracy``: fraction of masked positions whose top prediction is the original token;
    * ``nsp_loss`` and ``nsp_accuracy`` over the sequence pairs (50% is chance).
    Runs without gradients; call it in eval mode (the training loop does).
    """
    device = torch.device(device) if device is not None else model_device(model)
    mlm_loss = mlm_correct = mlm_count = nsp_loss = nsp_correct = nsp_count = 0.0
    for batch in batches:
        batch = {name: value.to(device) for name, value in batch.items()}
        output = model(**batch)
        targets = output.mlm_labels
        mlm_loss += float(F.cross_entropy(output.mlm_logits.float(), targets, reduction="sum"))
        mlm_correct += int((output.mlm_logits.argmax(-1) == targets).sum())
        mlm_count += targets.numel()
        nsp = batch["next_sentence_label"]
        nsp_loss += float(F.cross_entropy(output.nsp_logits.float(), nsp, reduction="sum"))
        nsp_correct += int((output.nsp_logits.argmax(-1) == nsp).sum())
        nsp_count += nsp.numel()
    if not mlm_count or not nsp_count:
        raise ValueError(
            "No masked token or sequence pair in the evaluation batches; pass batches with labels."
        )
    mean_mlm = mlm_loss / mlm_count
    return {
        "mlm_loss": mean_mlm,
        "mlm_perplexity": math.exp(mean_mlm),
        "mlm_accuracy": mlm_correct / mlm_count,
        "nsp_loss": nsp_loss / nsp_count,
        "nsp_accuracy": nsp_correct / nsp_count,
    }


@torch.no_grad()
def mlm_predictions(
    model: nn.Module, batches: Iterable[Batch]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, top1)``: the original token and the model's best guess at every masked position.

    The raw material for looking *where* a model is right (frequent function
    words, rare content words...). Runs without gradients; call it in eval mode.
    """
    device = model_device(model)
    targets, guesses = [], []
    for batch in batches:
        output = model(**{name: value.to(device) for name, value in batch.items()})
        targets.append(output.mlm_labels.cpu())
        guesses.append(output.mlm_logits.argmax(-1).cpu())
    return torch.cat(targets), torch.cat(guesses)
