"""Generative question answering: our BERT as the encoder, a Transformer decoder that writes.

The encoder reads ``[CLS] question [SEP] passage [SEP]`` once. The decoder
writes the answer one token at a time; each decoder block (post-LN, like the
encoder's) has three sub-layers:

    h1  = LayerNorm(y  + SelfAttention(y, causal mask))       sees only earlier answer tokens
    h2  = LayerNorm(h1 + CrossAttention(h1, encoder output))  reads the passage
    out = LayerNorm(h2 + FFN(h2))

The decoder's token embeddings are the encoder's word embeddings (one
matrix), and the output projection is that same matrix transposed
(BERT's MLM head, reused), so the 30,522 x hidden table is stored once and
every answer token is scored against the vectors the encoder reads.

Training uses *teacher forcing* on shifted targets: for the answer
``google ' s ai team`` the decoder reads ``[CLS] google ' s ai team`` and must
predict ``google ' s ai team [SEP]``, position by position, in one pass:

    decoder_input_ids  [CLS]  google  '    s     ai    team
    labels             google '       s    ai    team  [SEP]

``[CLS]`` serves as beginning-of-sequence and ``[SEP]`` as end-of-sequence,
so no new vocabulary entries are needed. A common first implementation puts a
per-position linear layer over the *encoder's input* positions instead: it can
only label the input tokens one by one (its 64-token targets do not even align
with the 128 input positions), it has no notion of "the previous answer token"
and no way to stop; it is not a generator.

Two options make the reader learn from a few hundred answers:

* ``copy=True``: a **pointer-generator** (See et al. 2017, :mod:`bertedu.qa.copying`):
  each step mixes the vocabulary distribution with a pointer (one more
  attention head, from the last block's state to the passage's tokens),
  through a learned gate ``p_gen``.
* ``warm_start=True``: the decoder blocks start from the encoder's weights
  (Rothe et al. 2020, "Leveraging Pre-trained Checkpoints for Sequence
  Generation Tasks"): self-attention, feed-forward and their LayerNorms from
  encoder block ``i``, the position/segment tables from the encoder's
  embeddings; only the cross-attention (which the encoder has no counterpart
  for), the output transform and the gate start random, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bertedu.constants import CLS_ID, IGNORE_INDEX, SEP_ID
from bertedu.model import (
    BertConfig,
    BertEmbeddings,
    BertLMPredictionHead,
    BertModel,
    FeedForward,
    MultiHeadAttention,
    causal_mask,
    init_bert_weights,
    padding_mask,
)
from bertedu.nn_utils import num_parameters
from bertedu.qa.copying import (
    CopyGate,
    PointerAttention,
    copy_distribution,
    mix_log_probs,
    passage_mask,
    selective_read,
)
from bertedu.qa.datasets import QAExample
from bertedu.qa.extractive import DEFAULT_MAX_QUESTION_LENGTH, prepare_features


class DecoderLayer(nn.Module):
    """One post-LN decoder block: causal self-attention, cross-attention, feed-forward."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        heads, hidden = config.num_attention_heads, config.hidden_size
        self.self_attention = MultiHeadAttention(
            hidden, heads, dropout=config.attention_probs_dropout_prob
        )
        self.self_attention_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.cross_attention = MultiHeadAttention(
            hidden, heads, dropout=config.attention_probs_dropout_prob
        )
        self.cross_attention_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.ffn = FeedForward(hidden, config.intermediate_size)
        self.ffn_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        y: torch.Tensor,
        encoder_states: torch.Tensor,
        self_mask: torch.Tensor,
        cross_mask: torch.Tensor | None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``[batch, target, hidden]`` -> same shape (+ self- and cross-attention weights)."""
        attended, self_weights = self.self_attention(
            y, mask=self_mask, output_attentions=output_attentions
        )
        h = self.self_attention_norm(y + self.dropout(attended))
        read, cross_weights = self.cross_attention(
            h, key_value_states=encoder_states, mask=cross_mask, output_attentions=output_attentions
        )
        h = self.cross_attention_norm(h + self.dropout(read))
        return self.ffn_norm(h + self.dropout(self.ffn(h))), self_weights, cross_weights


@dataclass
class DecoderOutput:
    """What :meth:`BertEncoderDecoder.decode` returns.

    ``logits`` are the vocabulary logits of a plain decoder, or the mixture's
    log-probabilities of a copying one (normalised already; both go through
    ``log_softmax``/``argmax``/cross-entropy the same way).
    """

    logits: torch.Tensor  # [batch, target, vocab]
    cross_attentions: tuple[torch.Tensor, ...] | None = None  # per layer [batch, heads, t, s]
    copy_gate: torch.Tensor | None = None  # p_gen [batch, target] (copy=True only)
    copy_weights: torch.Tensor | None = None  # [batch, target, source] (copy=True only)


@dataclass
class Seq2SeqOutput:
    """What :class:`BertEncoderDecoder` returns."""

    logits: torch.Tensor  # [batch, target, vocab]
    loss: torch.Tensor | None = None
    encoder_hidden_state: torch.Tensor | None = None
    cross_attentions: tuple[torch.Tensor, ...] | None = (
        None  # per layer [batch, heads, target, source]
    )
    copy_gate: torch.Tensor | None = None  # p_gen [batch, target] (copy=True only)
    copy_weights: torch.Tensor | None = None  # [batch, target, source] (copy=True only)


def shift_right(labels: torch.Tensor, bos_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Teacher forcing's decoder input: ``[BOS] + labels[:-1]``, with ``IGNORE_INDEX`` read as
    padding."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 0] = bos_token_id
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == IGNORE_INDEX, pad_token_id)


class BertEncoderDecoder(nn.Module):
    """BERT encoder + Transformer decoder with tied embeddings and output projection.

    ``num_decoder_layers`` defaults to the encoder's depth; the decoder blocks
    take their sizes (hidden, heads, FFN) from the encoder's config. The decoder
    has its own position and segment tables and LayerNorm (a
    :class:`BertEmbeddings` whose ``word_embeddings`` *is* the encoder's).
    ``copy`` adds the pointer-generator gate; ``warm_start`` copies the
    encoder's weights into the decoder (see the module docstring).
    """

    def __init__(
        self,
        config: BertConfig,
        encoder: BertModel | None = None,
        num_decoder_layers: int | None = None,
        bos_token_id: int = CLS_ID,
        eos_token_id: int = SEP_ID,
        copy: bool = False,
        warm_start: bool = False,
    ) -> None:
        super().__init__()
        if encoder is not None and encoder.config != config:
            raise ValueError("The given encoder's config differs from config; pass encoder.config.")
        depth = num_decoder_layers or config.num_hidden_layers
        if warm_start and depth > config.num_hidden_layers:
            raise ValueError(
                f"warm_start copies encoder block i into decoder block i: {depth} decoder "
                f"layers need at least as many encoder layers (the encoder has "
                f"{config.num_hidden_layers}); use num_decoder_layers <= "
                f"{config.num_hidden_layers}."
            )
        self.config = config
        self.copy, self.warm_start = copy, warm_start
        self.bos_token_id, self.eos_token_id = bos_token_id, eos_token_id
        self.encoder = encoder if encoder is not None else BertModel(config)
        shared = self.encoder.embeddings.word_embeddings
        self.decoder_embeddings = BertEmbeddings(config)
        self.decoder_layers = nn.ModuleList(DecoderLayer(config) for _ in range(depth))
        self.lm_head = BertLMPredictionHead(config, shared)
        self.copy_gate = CopyGate(config.hidden_size) if copy else None
        self.pointer = PointerAttention(config.hidden_size) if copy else None
        # CopyNet's selective read: where the previous answer token sits in the passage.
        self.read_projection = (
            nn.Linear(config.hidden_size, config.hidden_size, bias=False) if copy else None
        )
        new = [self.decoder_embeddings, self.decoder_layers, self.lm_head.transform]
        for module in new + ([self.pointer, self.read_projection] if copy else []):
            module.apply(lambda m: init_bert_weights(m, config.initializer_range))
        self.decoder_embeddings.word_embeddings = (
            shared  # tied: after init, so the encoder's table is kept
        )
        if warm_start:
            self._warm_start_from_encoder()

    @torch.no_grad()
    def _warm_start_from_encoder(self) -> None:
        """Decoder block ``i`` <- encoder block ``i`` (all but cross-attention); the decoder's
        position/segment tables and LayerNorm <- the encoder's embeddings."""
        source = self.encoder.embeddings
        target = self.decoder_embeddings
        for name in ("position_embeddings", "token_type_embeddings", "LayerNorm"):
            getattr(target, name).load_state_dict(getattr(source, name).state_dict())
        for block, layer in zip(self.decoder_layers, self.encoder.encoder.layer, strict=False):
            block.self_attention.load_state_dict(layer.attention.state_dict())
            block.self_attention_norm.load_state_dict(layer.attention_norm.state_dict())
            block.ffn.load_state_dict(layer.ffn.state_dict())
            block.ffn_norm.load_state_dict(layer.ffn_norm.state_dict())

    @classmethod
    def from_encoder(cls, encoder: BertModel, **kwargs) -> BertEncoderDecoder:
        """A fresh decoder on an existing (e.g. pretrained) encoder (``copy``, ``warm_start``,
        ``num_decoder_layers`` as keywords)."""
        return cls(encoder.config, encoder, **kwargs)

    def num_parameters(self) -> int:
        """Number of distinct parameters (the shared word-embedding table counts once)."""
        return num_parameters(self)

    def encode(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encoder states ``[batch, source, hidden]``: computed once, read by every step."""
        return self.encoder(input_ids, token_type_ids, attention_mask).last_hidden_state

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        last_only: bool = False,
        source_ids: torch.Tensor | None = None,
        copy_mask: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """Scores ``[batch, target, vocab]`` for the next token after each decoder position.

        ``last_only=True`` scores only the last position (``[batch, 1, vocab]``): all a
        decoding step needs, and the vocabulary projection is most of a step's work.
        A copying model also needs the encoder's ``source_ids`` and the
        positions it may copy from, ``copy_mask`` (:func:`~bertedu.qa.copying.passage_mask`).
        """
        if self.copy and (source_ids is None or copy_mask is None):
            raise ValueError(
                "This model copies from the passage: pass source_ids (the encoder's input_ids) "
                "and copy_mask (bertedu.qa.copying.passage_mask(input_ids, token_type_ids, "
                "attention_mask))."
            )
        target_len = decoder_input_ids.shape[1]
        self_mask = causal_mask(target_len, decoder_input_ids.device)
        if decoder_attention_mask is not None:
            self_mask = self_mask & padding_mask(decoder_attention_mask)
        cross_mask = None if attention_mask is None else padding_mask(attention_mask)
        embedded = self.decoder_embeddings(decoder_input_ids)
        y, cross = embedded, []
        if self.copy:
            read = selective_read(decoder_input_ids, source_ids, copy_mask, encoder_states)
            y = embedded + self.read_projection(read)
        for layer in self.decoder_layers:
            y, _, weights = layer(y, encoder_states, self_mask, cross_mask, output_attentions)
            cross.append(weights)
        if last_only:
            y, embedded = y[:, -1:], embedded[:, -1:]
            cross = [None if w is None else w[:, :, -1:] for w in cross]
        logits = self.lm_head(y)
        gate = copied = None
        if self.copy:
            copied = self.pointer(y, encoder_states, copy_mask)
            gate = self.copy_gate(y, copied @ encoder_states, embedded)
            vocab = copy_distribution(copied, source_ids, logits.shape[-1])
            logits = mix_log_probs(logits, gate, vocab)
        return DecoderOutput(logits, tuple(cross) if output_attentions else None, gate, copied)

    def forward(
        self,
        input_ids: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> Seq2SeqOutput:
        """Teacher-forced pass: ``labels`` (``IGNORE_INDEX`` = padding) give the loss and, shifted,
        the decoder input. A copying model copies from the passage tokens of ``input_ids``
        (segment 1 of ``token_type_ids``; every non-special token when it is not given)."""
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError(
                    "Pass labels (for training) or decoder_input_ids (the answer so far)."
                )
            decoder_input_ids = shift_right(labels, self.bos_token_id, self.config.pad_token_id)
            decoder_attention_mask = torch.ones_like(decoder_input_ids)
            decoder_attention_mask[:, 1:] = (labels[:, :-1] != IGNORE_INDEX).long()
        elif labels is not None and labels.shape != decoder_input_ids.shape:
            raise ValueError(
                f"labels {tuple(labels.shape)} and decoder_input_ids "
                f"{tuple(decoder_input_ids.shape)} "
                "must have the same shape: one target per decoder position."
            )
        encoder_states = self.encode(input_ids, token_type_ids, attention_mask)
        out = self.decode(
            decoder_input_ids,
            encoder_states,
            attention_mask,
            decoder_attention_mask,
            output_attentions,
            source_ids=input_ids,
            copy_mask=passage_mask(input_ids, token_type_ids, attention_mask),
        )
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                out.logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        return Seq2SeqOutput(
            out.logits, loss, encoder_states, out.cross_attentions, out.copy_gate, out.copy_weights
        )


@dataclass
class Seq2SeqFeatures(torch.utils.data.Dataset):
    """Encoder inputs and teacher-forcing labels for a list of examples (padded; see
    :func:`trim_seq2seq`)."""

    input_ids: torch.Tensor  # [n, max_length]
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None  # [n, max_target_length]: answer tokens, [SEP], then IGNORE_INDEX
    examples: list[QAExample]
    context_truncated: list[bool]

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {
            "input_ids": self.input_ids[index],
            "token_type_ids": self.token_type_ids[index],
            "attention_mask": self.attention_mask[index],
        }
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item


def trim_seq2seq(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop columns that are padding in every row, for the inputs and the labels separately."""
    source = int(batch["attention_mask"].sum(dim=1).max())
    trimmed = {
        key: batch[key][:, :source] for key in ("input_ids", "token_type_ids", "attention_mask")
    }
    if "labels" in batch:
        target = int((batch["labels"] != IGNORE_INDEX).sum(dim=1).max())
        trimmed["labels"] = batch["labels"][:, : max(target, 1)]
    return trimmed


def collate_seq2seq(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``DataLoader`` collate function: stack, then :func:`trim_seq2seq`."""
    return trim_seq2seq({key: torch.stack([item[key] for item in items]) for key in items[0]})


def prepare_seq2seq_features(
    examples: Sequence[QAExample],
    tokenizer,
    max_length: int = 384,
    max_target_length: int = 32,
    with_labels: bool = True,
    max_question_length: int = DEFAULT_MAX_QUESTION_LENGTH,
) -> Seq2SeqFeatures:
    """``[CLS] question [SEP] passage [SEP]`` and ``answer [SEP]`` targets.

    The encoder input is the first window of the extractive reader's
    :func:`~bertedu.qa.extractive.prepare_features` (same tokenisation, same
    question truncation): unlike the extractive reader, this model reads one
    window only, so a passage longer than it is truncated
    (``context_truncated`` says which). The target is the first reference
    answer, cut to ``max_target_length - 1`` WordPieces so that ``[SEP]`` (the
    end token) always fits.
    """
    if max_target_length < 2:
        raise ValueError(
            "max_target_length must leave room for at least one answer token and [SEP]."
        )
    windows = prepare_features(
        examples,
        tokenizer,
        max_length,
        stride=0,
        max_question_length=max_question_length,
        with_labels=False,
    )
    first = [i for i, window in enumerate(windows.windows) if window.token_start == 0]
    truncated = [
        i + 1 < len(windows)
        and windows.windows[i + 1].example_index == windows.windows[i].example_index
        for i in first
    ]
    labels = None
    if with_labels:
        if any(not example.answers for example in windows.examples):
            raise ValueError(
                "Every example needs a reference answer to make labels; pass with_labels=False."
            )
        labels = torch.full((len(first), max_target_length), IGNORE_INDEX)
        targets = tokenizer([e.answers[0] for e in windows.examples], add_special_tokens=False)[
            "input_ids"
        ]
        for row, ids in enumerate(targets):
            ids = ids[: max_target_length - 1] + [tokenizer.sep_token_id]
            labels[row, : len(ids)] = torch.tensor(ids)
    return Seq2SeqFeatures(
        windows.input_ids[first],
        windows.token_type_ids[first],
        windows.attention_mask[first],
        labels,
        windows.examples,
        truncated,
    )
