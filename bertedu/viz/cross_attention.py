"""Where the decoder reads: the cross-attention of chapter 7's encoder-decoder.

Each decoder block of :class:`bertedu.qa.generative.BertEncoderDecoder` attends from
the answer written so far to the encoder's states of ``[CLS] question [SEP] passage
[SEP]``. :func:`cross_attention_for` runs one answer through the decoder (the model's
own greedy answer, or a given one) and returns those weights, one ``[answer, source]``
map per layer and head; :func:`cross_attention_explorer` puts them in the attention
explorer, whose head view is bertviz's encoder-decoder view.

    result = cross_attention_for(model, tokenizer, "Who developed BERT?", passage)
    result.attentions[layer, head]      # [answer tokens, source tokens]
    cross_attention_explorer({"ours": model}, tokenizer, examples)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertedu.nn_utils import eval_mode, model_device
from bertedu.qa.copying import passage_mask
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import decode_answer, greedy_decode
from bertedu.qa.generative import BertEncoderDecoder, prepare_seq2seq_features
from bertedu.qa.passage_text import answer_from_passage
from bertedu.viz.explorer_data import STATIC_NOTE, ExplorerExample, shorten
from bertedu.viz.widget import AttentionExplorer


@dataclass(frozen=True)
class CrossAttentionResult:
    """What :func:`cross_attention_for` returns for one question and passage."""

    source_tokens: list[str]  # the encoder's input: [CLS] question [SEP] passage [SEP]
    target_tokens: list[str]  # the answer's WordPieces, then [SEP]: row t predicts token t
    attentions: torch.Tensor  # [decoder layers, heads, target, source]
    answer: str  # the answer as text
    context_truncated: bool  # the passage was cut to fit max_length
    copy_gate: torch.Tensor | None = None  # p_gen per target token [target] (copying models)
    copy_weights: torch.Tensor | None = None  # the pointer [target, source] (copying models)


def cross_attention_for(
    model: BertEncoderDecoder,
    tokenizer,
    question: str,
    context: str,
    answer: str | None = None,
    *,
    max_length: int = 384,
    max_new_tokens: int = 32,
) -> CrossAttentionResult:
    """The decoder's cross-attention weights while it writes an answer.

    Without ``answer`` the model writes its own (greedy decoding, at most
    ``max_new_tokens`` WordPieces); with one, that answer is fed to the decoder as
    in training (teacher forcing). Either way the decoder reads ``[CLS] answer`` and
    predicts ``answer [SEP]``, so row ``t`` of every map is the step that predicts
    ``target_tokens[t]`` and the last row is the step that predicts the end. The
    question and passage are encoded as for training
    (:func:`~bertedu.qa.generative.prepare_seq2seq_features`): empty ones raise a
    ``ValueError``, a passage too long for ``max_length`` is cut (and said so).
    A copying model (``copy=True``) also gives its gate ``p_gen`` and its
    pointer's weights per step: where it would copy from, and how much.
    """
    if not isinstance(model, BertEncoderDecoder):
        raise TypeError(
            "cross_attention_for needs a BertEncoderDecoder (chapter 7), "
            f"got {type(model).__name__}."
        )
    features = prepare_seq2seq_features(
        [QAExample("cross-attention", question, context, ())],
        tokenizer,
        max_length=max_length,
        with_labels=False,
    )
    length = int(features.attention_mask[0].sum())
    device = model_device(model)
    inputs = [
        tensor[:1, :length].to(device)
        for tensor in (features.input_ids, features.token_type_ids, features.attention_mask)
    ]
    if answer is None:
        ids = greedy_decode(model, *inputs, max_new_tokens=max_new_tokens)[0]
    else:
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"][:max_new_tokens]
    decoder_input = torch.tensor([[model.bos_token_id, *ids]], device=device)
    with eval_mode(model), torch.no_grad():
        states = model.encode(*inputs)
        out = model.decode(
            decoder_input,
            states,
            inputs[2],
            output_attentions=True,
            source_ids=inputs[0],
            copy_mask=passage_mask(*inputs),
        )
    cross = out.cross_attentions
    return CrossAttentionResult(
        source_tokens=tokenizer.convert_ids_to_tokens(inputs[0][0].tolist()),
        target_tokens=tokenizer.convert_ids_to_tokens([*ids, model.eos_token_id]),
        attentions=torch.stack([layer[0] for layer in cross]).float().cpu(),
        answer=answer_from_passage(decode_answer(tokenizer, ids), context),
        context_truncated=bool(features.context_truncated[0]),
        copy_gate=None if out.copy_gate is None else out.copy_gate[0].float().cpu(),
        copy_weights=None if out.copy_weights is None else out.copy_weights[0].float().cpu(),
    )


def cross_attention_explorer(
    models: dict[str, BertEncoderDecoder],
    tokenizer,
    examples: Sequence[QAExample],
    *,
    max_length: int = 384,
    max_new_tokens: int = 32,
    **state: Any,
) -> AttentionExplorer:
    """The explorer over the cross-attention of each model's own answer to each example.

    Rows (left in the head view) are the answer's tokens, columns (right) the
    question and passage. ``state`` sets the opening view, as for
    :class:`~bertedu.viz.widget.AttentionExplorer`.
    """
    if not examples:
        raise ValueError("cross_attention_explorer needs at least one question and passage.")
    stored: dict[str, list[ExplorerExample]] = {}
    for name, model in models.items():
        stored[name] = []
        for example in examples:
            result = cross_attention_for(
                model,
                tokenizer,
                example.question,
                example.context,
                max_length=max_length,
                max_new_tokens=max_new_tokens,
            )
            note = (
                "The passage was cut to fit the encoder's input."
                if result.context_truncated
                else None
            )
            stored[name].append(
                ExplorerExample(
                    label=f"{shorten(example.question, 50)} \u2192 {shorten(result.answer, 30)!r}",
                    queries=result.target_tokens,
                    keys=result.source_tokens,
                    attentions=result.attentions.numpy(),
                    note=note,
                )
            )
    state.setdefault("title", "Cross-attention: where the decoder reads while it writes")
    state.setdefault(
        "kernel_note",
        STATIC_NOTE + " Other questions need a running kernel (Jupyter): call "
        "cross_attention_explorer with them.",
    )
    return AttentionExplorer(
        stored, axes=("answer (decoder)", "question + passage (encoder)"), **state
    )
