"""Held-out pretraining metrics, reported at the positions where they mean something.

BERT labels 15% of the tokens and shows the model three kinds of input at them
(Devlin et al. 2019, 80/10/10): ``[MASK]`` (80%), a random token (10%) and the
original token left in place (10%). The usual "MLM accuracy" pools all three,
and the kept positions inflate it: the answer is in the input, so even a model
that has learned nothing but "copy what you see" is right there. The headline
metrics here are therefore measured at ``[MASK]`` positions only; the kept and
random positions are reported separately, and the pooled figure keeps its own,
explicit name (``labelled_accuracy``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.constants import IGNORE_INDEX, MASK_ID
from bertedu.nn_utils import model_device
from bertedu.train.batches import Batch

TOP_K = 5


def position_kinds(
    input_ids: torch.Tensor, labels: torch.Tensor, mask_token_id: int = MASK_ID
) -> dict[str, torch.Tensor]:
    """Boolean masks over the labelled positions (in ``labels != IGNORE_INDEX`` order): which
    showed ``[MASK]``, which kept the original token, which showed a random one.

    A random replacement that happens to draw the original token counts as kept:
    for the model the two are indistinguishable.
    """
    selected = labels != IGNORE_INDEX
    visible, targets = input_ids[selected], labels[selected]
    masked = visible == mask_token_id
    kept = ~masked & (visible == targets)
    return {"mask": masked, "kept": kept, "random": ~masked & ~kept}


@dataclass
class _Tally:
    """Running sums of one kind of position."""

    count: int = 0
    correct: int = 0
    correct_top_k: int = 0
    loss: float = 0.0
    predicted: set[int] = field(default_factory=set)

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        if not len(targets):
            return
        top = logits.topk(min(TOP_K, logits.shape[-1]), dim=-1).indices
        self.count += len(targets)
        self.correct += int((top[:, 0] == targets).sum())
        self.correct_top_k += int((top == targets[:, None]).any(-1).sum())
        self.loss += float(F.cross_entropy(logits, targets, reduction="sum"))
        self.predicted.update(top[:, 0].tolist())


@torch.no_grad()  # also keeps the MLM logits: training fuses them away (bertedu.model.fused_loss)
def evaluate_pretraining(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    mask_token_id: int = MASK_ID,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Held-out MLM and NSP metrics of a ``BertForPreTraining``, pooled over all batches.

    At ``[MASK]`` positions (the headline): ``mask_accuracy`` (top-1),
    ``mask_top5_accuracy``, ``mask_loss`` (mean cross-entropy, nats),
    ``mask_perplexity``, ``mask_distinct_predictions`` (how many different
    WordPieces the top-1 guesses use: a model stuck on "the" and "," has 2) and
    ``mask_positions``. ``kept_accuracy`` and ``random_accuracy`` (with their
    ``*_positions``) at the other two kinds; ``labelled_accuracy`` and
    ``labelled_loss`` pool all three, the figure most write-ups call "MLM
    accuracy". ``nsp_accuracy`` and ``nsp_loss`` over the sequence pairs.
    Runs without gradients; call it in eval mode (the training loop does).
    """
    device = torch.device(device) if device is not None else model_device(model)
    tallies = {kind: _Tally() for kind in ("mask", "kept", "random", "labelled")}
    nsp_loss = nsp_correct = nsp_count = 0.0
    for batch in batches:
        batch = {name: value.to(device) for name, value in batch.items()}
        output = model(**batch)
        logits, targets = output.mlm_logits.float(), output.mlm_labels
        tallies["labelled"].add(logits, targets)
        for kind, where in position_kinds(
            batch["input_ids"], batch["labels"], mask_token_id
        ).items():
            tallies[kind].add(logits[where], targets[where])
        nsp = batch["next_sentence_label"]
        nsp_loss += float(F.cross_entropy(output.nsp_logits.float(), nsp, reduction="sum"))
        nsp_correct += int((output.nsp_logits.argmax(-1) == nsp).sum())
        nsp_count += nsp.numel()
    mask = tallies["mask"]
    if not mask.count or not nsp_count:
        raise ValueError(
            "No [MASK] position or sequence pair in the evaluation batches: pass masked batches "
            f"with labels (mask_token_id={mask_token_id} must be the tokenizer's [MASK] id)."
        )
    metrics = {
        "mask_accuracy": mask.correct / mask.count,
        "mask_top5_accuracy": mask.correct_top_k / mask.count,
        "mask_loss": mask.loss / mask.count,
        "mask_perplexity": math.exp(mask.loss / mask.count),
        "mask_distinct_predictions": float(len(mask.predicted)),
        "mask_positions": float(mask.count),
    }
    for kind in ("kept", "random"):
        tally = tallies[kind]
        metrics[f"{kind}_accuracy"] = tally.correct / tally.count if tally.count else math.nan
        metrics[f"{kind}_positions"] = float(tally.count)
    labelled = tallies["labelled"]
    metrics["labelled_accuracy"] = labelled.correct / labelled.count
    metrics["labelled_loss"] = labelled.loss / labelled.count
    metrics["nsp_accuracy"] = nsp_correct / nsp_count
    metrics["nsp_loss"] = nsp_loss / nsp_count
    return metrics


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
