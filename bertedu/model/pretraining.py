"""BertForPreTraining: BERT plus the two pretraining heads, MLM and NSP.

MLM head (one row of logits per predicted token):

    t      = LayerNorm(GELU(W_t h + b_t))           the "transform"
    logits = t E^T + b                              E = the word-embedding matrix (tied)

NSP head: ``logits = W_nsp p + b_nsp`` on the pooler output ``p`` (2 classes:
0 = B follows A, 1 = B is a random sentence).

Sparse prediction: only ~15% of positions carry an MLM label, and the decoder
(hidden x 30,522) is most of the model's FLOPs. When ``labels`` are given we
gather the labelled positions *before* the transform and decoder, so the
vocabulary projection runs on ``n_labelled`` rows instead of ``batch * seq``.
The loss is identical to the dense one; only the wasted work is gone. In
training (gradients on, no autocast) the projection and the cross-entropy are
fused chunk by chunk (:mod:`bertedu.model.fused_loss`), so even the
``[n_labelled, vocab]`` logits are never written to memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.constants import IGNORE_INDEX
from bertedu.model.bert import BertModel, init_bert_weights
from bertedu.model.config import BertConfig
from bertedu.model.fused_loss import linear_cross_entropy
from bertedu.model.input_checks import require_shape_of_input_ids
from bertedu.nn_utils import num_parameters


@dataclass
class BertForPreTrainingOutput:
    """What :class:`BertForPreTraining` returns.

    ``mlm_logits`` is ``[n_labelled, vocab]`` when labels were given (rows in
    the order of ``labels[labels != IGNORE_INDEX]``, which is ``mlm_labels``), else
    ``[batch, seq, vocab]``; it is ``None`` when training computed the MLM loss
    fused, without the logits (gradients on, no autocast: see
    :mod:`bertedu.model.fused_loss`). Evaluate under ``torch.no_grad()`` to get them.
    """

    mlm_logits: torch.Tensor | None
    nsp_logits: torch.Tensor  # [batch, 2]
    loss: torch.Tensor | None = None  # mlm_loss + nsp_loss_weight * nsp_loss (or the one given)
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None
    mlm_labels: torch.Tensor | None = None  # [n_labelled], the targets of mlm_logits' rows
    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class BertPredictionHeadTransform(nn.Module):
    """``LayerNorm(GELU(dense(h)))``: a last non-linear step before the vocabulary projection."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(hidden)))


class BertLMPredictionHead(nn.Module):
    """Transform, then score every vocabulary entry with the (tied) embedding matrix plus a bias."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied: the same tensor, not a copy
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def project(self, transformed: torch.Tensor) -> torch.Tensor:
        """Transformed vectors ``[..., hidden]`` -> ``[..., vocab]`` logits: ``t E^T + b``."""
        # F.linear adds the bias inside the matrix product: one pass over the [rows, vocab]
        # logits instead of two (a separate "+ bias" reads and writes all of them again).
        return F.linear(transformed, self.decoder.weight, self.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[..., hidden]`` -> ``[..., vocab]`` logits."""
        return self.project(self.transform(hidden))


class BertPreTrainingHeads(nn.Module):
    """The MLM head (``predictions``) and the NSP head (``seq_relationship``), named as in
    transformers."""

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config, word_embeddings)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)


def validate_pretraining_labels(
    labels: torch.Tensor | None,
    next_sentence_label: torch.Tensor | None,
    input_ids: torch.Tensor,
    config: BertConfig,
) -> None:
    """Raise a ``ValueError`` for MLM or NSP labels of the wrong shape or range."""
    if labels is not None:
        require_shape_of_input_ids(
            "labels",
            labels,
            input_ids,
            f": one label per token, {IGNORE_INDEX} where no prediction is made.",
        )
        if labels.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"labels must hold integer token ids, got dtype {labels.dtype}")
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= config.vocab_size))
        if bool(bad.any()):
            raise ValueError(
                f"labels must be token ids in [0, {config.vocab_size}) or {IGNORE_INDEX} "
                f"(no prediction); found {labels[bad][:5].tolist()}"
            )
    if next_sentence_label is not None:
        if tuple(next_sentence_label.shape) != (input_ids.shape[0],):
            raise ValueError(
                f"next_sentence_label has shape {tuple(next_sentence_label.shape)}; "
                f"expected ({input_ids.shape[0]},): one 0/1 label per sequence pair."
            )
        if not bool(((next_sentence_label == 0) | (next_sentence_label == 1)).all()):
            raise ValueError("next_sentence_label must be 0 (B follows A) or 1 (B is random)")


def masked_mean_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy over the rows whose label is not ``IGNORE_INDEX``; 0 when there is
    none (a plain mean would be 0/0 = NaN), with no data-dependent branch."""
    total = F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (labels != IGNORE_INDEX).sum().clamp(min=1)


def gather_predictions(
    hidden: torch.Tensor, labels: torch.Tensor, max_predictions: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled positions of every row, padded to ``max_predictions``: a fixed shape.

    ``hidden[labels != IGNORE_INDEX]`` has as many rows as there happen to be
    labels, a shape only known at run time, so ``torch.compile`` must break the
    graph there. Here a stable sort moves each row's labelled positions to its
    front (in their original order), and the first ``max_predictions`` are
    gathered: ``[batch * max_predictions, hidden]`` whatever the masks, with
    ``IGNORE_INDEX`` as the label of the padding rows (a row with fewer
    predictions gathers some unlabelled positions, whose label is already
    ``IGNORE_INDEX``). Google's BERT feeds its model ``masked_lm_positions`` of this
    fixed size for the same reason. Rows with more labels than ``max_predictions``
    would lose some; :meth:`BertForPreTraining.forward` refuses them outside compiled code.
    """
    unlabelled = (labels == IGNORE_INDEX).to(torch.int8)
    positions = unlabelled.argsort(dim=1, stable=True)[:, :max_predictions]
    gathered = hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    return gathered.flatten(0, 1), labels.gather(1, positions).flatten().long()


def check_nsp_loss_weight(weight: float, name: str = "nsp_loss_weight") -> None:
    """Refuse an NSP loss weight that is negative or not finite (1 is BERT's plain sum)."""
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(
            f"{name} must be a finite number >= 0 (1 is BERT's sum of the MLM and NSP "
            f"losses, 0 trains MLM only), got {weight}"
        )


class BertForPreTraining(nn.Module):
    """BERT with the MLM and NSP heads. Names mirror transformers' ``bert`` and ``cls`` modules.

    ``max_predictions`` (optional, not part of the architecture): the most MLM labels a row
    has. When it is set, compiled code (``torch.compile``) gathers the labelled positions at
    a fixed size (:func:`gather_predictions`) and traces as one graph; eager code keeps the
    exact sparse selection, so its outputs do not depend on it.

    ``nsp_loss_weight`` (a training choice, not architecture): the loss is
    ``mlm_loss + nsp_loss_weight * nsp_loss``. BERT adds the two (weight 1); a
    pretraining recipe may weigh NSP down (chapter 5's ablation measures what that does).
    """

    def __init__(
        self,
        config: BertConfig,
        max_predictions: int | None = None,
        nsp_loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if max_predictions is not None and max_predictions < 1:
            raise ValueError(
                f"max_predictions must be a positive number of labels per row or None, "
                f"got {max_predictions}"
            )
        check_nsp_loss_weight(nsp_loss_weight)
        self.config = config
        self.max_predictions = max_predictions
        self.nsp_loss_weight = nsp_loss_weight
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config, self.bert.embeddings.word_embeddings)
        self.cls.apply(lambda module: init_bert_weights(module, config.initializer_range))
        # cls.apply re-initialised the tied decoder weight, i.e. the word embeddings: redo them.
        init_bert_weights(self.bert.embeddings.word_embeddings, config.initializer_range)

    def num_parameters(self) -> int:
        """Number of distinct parameters (the tied MLM decoder is the word-embedding matrix)."""
        return num_parameters(self)

    def check_labels(
        self,
        labels: torch.Tensor | None,
        next_sentence_label: torch.Tensor | None,
        input_ids: torch.Tensor,
    ) -> None:
        """Refuse labels of the wrong shape or range, and rows with more MLM labels than
        ``max_predictions`` (the fixed-size gather of compiled code would drop some)."""
        validate_pretraining_labels(labels, next_sentence_label, input_ids, self.config)
        if labels is None or self.max_predictions is None or not labels.numel():
            return
        most = int((labels != IGNORE_INDEX).sum(dim=1).max())
        if most > self.max_predictions:
            raise ValueError(
                f"A row has {most} MLM labels but the model was built with "
                f"max_predictions={self.max_predictions}: build it with the collator's "
                "max_predictions (or None)."
            )

    def _gathers_fixed_rows(self) -> bool:
        """Whether compiled code with ``max_predictions`` set gathers fixed-size rows."""
        return torch.compiler.is_compiling() and self.max_predictions is not None

    def labelled_rows(
        self, hidden: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hidden[labels != IGNORE_INDEX]`` and those labels: the rows the MLM head scores.

        A speed path: ``torch.compile`` needs shapes known before the data, so compiled
        code with ``max_predictions`` set calls :func:`gather_predictions` instead
        (``batch * max_predictions`` rows, the padding rows labelled ``IGNORE_INDEX``).
        """
        if self._gathers_fixed_rows():
            return gather_predictions(hidden, labels, self.max_predictions)
        selected = labels != IGNORE_INDEX
        return hidden[selected], labels[selected].long()

    def fuses_mlm_loss(self, rows: torch.Tensor, mlm_labels: torch.Tensor) -> bool:
        """Whether :meth:`fused_mlm_loss` applies: training (gradients on) without autocast, on
        at least one exact labelled row (the CPU training path)."""
        transform = self.cls.predictions.transform
        needs_grad = rows.requires_grad or any(p.requires_grad for p in transform.parameters())
        return (
            torch.is_grad_enabled()
            and needs_grad
            and mlm_labels.numel() > 0
            and not self._gathers_fixed_rows()
            and not torch.is_autocast_enabled(rows.device.type)
        )

    def fused_mlm_loss(self, rows: torch.Tensor, mlm_labels: torch.Tensor) -> torch.Tensor:
        """A speed path: the MLM loss of ``rows`` with the vocabulary projection and the
        cross-entropy fused chunk by chunk, so the ``[rows, vocab]`` logits are never stored
        (:func:`bertedu.model.fused_loss.linear_cross_entropy`; same loss and gradients)."""
        head = self.cls.predictions
        return linear_cross_entropy(
            head.transform(rows), head.decoder.weight, head.bias, mlm_labels
        )

    def combined_loss(
        self, mlm_loss: torch.Tensor | None, nsp_loss: torch.Tensor | None
    ) -> torch.Tensor | None:
        """``mlm_loss + nsp_loss_weight * nsp_loss``, or the one given; ``None`` for neither."""
        if nsp_loss is not None and self.nsp_loss_weight != 1:
            nsp_loss = self.nsp_loss_weight * nsp_loss
        losses = [value for value in (mlm_loss, nsp_loss) if value is not None]
        return sum(losses[1:], losses[0]) if losses else None

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> BertForPreTrainingOutput:
        """Encode; predict the masked tokens (labels != IGNORE_INDEX) and the NSP class.

        The speed paths are named helpers: :meth:`labelled_rows` (a fixed-size gather
        under ``torch.compile``) and :meth:`fused_mlm_loss` (training without the logits).
        """
        if not torch.compiler.is_compiling():  # data-dependent checks would split the graph
            self.check_labels(labels, next_sentence_label, input_ids)
        encoded = self.bert(
            input_ids, token_type_ids, attention_mask, output_attentions=output_attentions
        )
        hidden = encoded.last_hidden_state
        nsp_logits = self.cls.seq_relationship(encoded.pooler_output)  # [batch, 2]
        mlm_logits = mlm_loss = mlm_labels = nsp_loss = None
        if labels is None:
            mlm_logits = self.cls.predictions(hidden)  # dense: [batch, seq, vocab]
        else:
            rows, mlm_labels = self.labelled_rows(hidden, labels)  # sparse: labelled only
            if self.fuses_mlm_loss(rows, mlm_labels):
                mlm_loss = self.fused_mlm_loss(rows, mlm_labels)  # no logits stored
            else:
                mlm_logits = self.cls.predictions(rows)  # [n_labelled, vocab]
                mlm_loss = masked_mean_cross_entropy(mlm_logits, mlm_labels)
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(nsp_logits, next_sentence_label.long())
        return BertForPreTrainingOutput(
            mlm_logits=mlm_logits,
            nsp_logits=nsp_logits,
            loss=self.combined_loss(mlm_loss, nsp_loss),
            mlm_loss=mlm_loss,
            nsp_loss=nsp_loss,
            mlm_labels=mlm_labels,
            last_hidden_state=hidden,
            pooler_output=encoded.pooler_output,
            attentions=encoded.attentions,
        )
