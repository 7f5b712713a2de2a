"""The MLM loss without the ``[rows, vocab]`` logits matrix: projection and cross-entropy fused,
chunk by chunk.

The textbook way to train the MLM head is ``F.cross_entropy(F.linear(t, E, c), y)``:
it writes a ``[rows, vocab]`` matrix of logits (608 x 30,522 floats, 74 MB, for
a BERT-Tiny batch of 32 x 128), then its log-softmax (another 74 MB), then, in
the backward pass, a gradient of the same size, twice. On a CPU those passes
over memory cost more than the matrix products themselves.

:func:`linear_cross_entropy` computes the same loss and the same gradients from
``chunk_rows`` rows at a time, so each chunk of logits stays in the processor's
cache. For one chunk of hidden vectors ``t_c`` (``[c, hidden]``) and targets ``y_c``:

    L      = E t_c^T + c                         [vocab, c]   (vocab-major: faster here)
    lse_j  = log sum_v exp L[v, j]               the log of the softmax's denominator
    loss  += sum_j (lse_j - L[y_j, j])           cross-entropy, summed
    G      = (softmax(L) - onehot(y)) / rows     d loss / d L
    dt_c   = G^T E,   dE += G t_c,   dc += G 1    the three gradients

Because the gradient of a cross-entropy needs only the softmax and the target,
it is computed in the forward pass and the logits are thrown away; the backward
pass just scales the stored gradients by the incoming one. The result equals the
unfused version up to float rounding (``tests/test_fused_loss.py`` checks it).

It is used only where it pays: with gradients enabled and no autocast (the CPU
training path). Evaluation, inference and bf16 training on a GPU keep the plain,
readable path that returns the logits.
"""

from __future__ import annotations

import torch


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T + bias`` against ``targets``; gradients computed in
    forward."""

    @staticmethod
    def forward(
        ctx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        targets: torch.Tensor,
        chunk_rows: int,
    ) -> torch.Tensor:
        rows = hidden.shape[0]
        grad_hidden = torch.empty_like(hidden)
        grad_weight = torch.empty_like(weight)  # the first chunk writes it, the others add
        grad_bias = torch.empty_like(bias)
        total = hidden.new_zeros(())
        buffer = None  # one [vocab, c] matrix reused by every chunk: fresh memory costs page faults
        for first in range(0, rows, chunk_rows):
            chunk = hidden[first : first + chunk_rows]
            chunk_targets = targets[first : first + chunk_rows]
            columns = torch.arange(chunk.shape[0], device=hidden.device)
            if buffer is None or buffer.shape[1] != chunk.shape[0]:
                buffer = weight.new_empty(weight.shape[0], chunk.shape[0])
            logits = torch.addmm(bias[:, None], weight, chunk.t(), out=buffer)  # [vocab, c]
            target_logits = logits[chunk_targets, columns]
            peak = logits.amax(dim=0)
            exps = logits.sub_(peak).exp_()  # in place: the logits are not needed any more
            denominator = exps.sum(dim=0)
            total += (peak + denominator.log() - target_logits).sum()
            # d loss / d logits = (softmax - onehot) / rows = exps * scale - onehot / rows. The
            # column scale and the one-hot part are applied to the small factors of each product
            # below, which saves two passes over the [vocab, c] matrix.
            scale = 1.0 / (denominator * rows)
            torch.mm(exps.t(), weight, out=grad_hidden[first : first + chunk_rows])
            grad_hidden[first : first + chunk_rows].mul_(scale[:, None]).sub_(
                weight[chunk_targets], alpha=1.0 / rows
            )
            beta = 0.0 if first == 0 else 1.0
            grad_weight.addmm_(exps, chunk * scale[:, None], beta=beta)
            grad_weight.index_add_(0, chunk_targets, chunk, alpha=-1.0 / rows)
            grad_bias.addmv_(exps, scale, beta=beta)
            grad_bias.index_add_(0, chunk_targets, torch.ones_like(scale), alpha=-1.0 / rows)
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        return total / rows

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        grads = ctx.saved_tensors
        # The usual case, loss.backward() on a sum of losses, passes exactly 1: hand the stored
        # gradients over as they are (a new [vocab, hidden] tensor would cost page faults). Never
        # scale them in place: a second backward (retain_graph=True) must see them unchanged.
        if grad_loss.device.type == "cpu" and float(grad_loss) == 1.0:
            return (*grads, None, None)
        return (*(grad * grad_loss for grad in grads), None, None)


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    chunk_rows: int = 128,
) -> torch.Tensor:
    """``F.cross_entropy(F.linear(hidden, weight, bias), targets)`` without materialising the
    logits.

    ``hidden`` is ``[rows, hidden_size]``, ``weight`` ``[vocab, hidden_size]``,
    ``bias`` ``[vocab]`` and ``targets`` ``[rows]`` (class indices, no ignored
    entries: select the labelled rows first). Returns the mean loss, a scalar
    whose backward pass gives the same gradients as the unfused expression.
    """
    if hidden.dim() != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError(
            f"hidden must be [rows, hidden] and targets [rows]; got {tuple(hidden.shape)} "
            f"and {tuple(targets.shape)}"
        )
    if hidden.shape[0] == 0:
        raise ValueError(
            "linear_cross_entropy needs at least one row: the mean over zero targets is undefined"
        )
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_rows)
