"""The models the attention explorer offers, and how each is loaded.

:data:`MODELS` names every model in menu order (add a model with one line);
:func:`available_models` leaves out those missing on this machine (the shipped
BERT-Tiny, when its weights are not installed). The explorer itself,
:class:`bertedu.viz.widget.AttentionExplorer`, draws what these models attend to in
the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bertedu.weights import bert_tiny_is_shipped

#: A model loader returns ``(model, tokenizer)``; it runs once, on first use.
ModelLoader = Callable[[], tuple[Any, Any]]

MINILM = "all-MiniLM-L6-v2 (pretrained)"
BERT_TINY = "our BERT-Tiny (chapter 5)"


def load_minilm() -> tuple[Any, Any]:
    """The real pretrained MiniLM in bertedu's own ``BertModel`` (via ``from_hf``)."""
    from bertedu.hf import from_hf
    from bertedu.tokenization import load_tokenizer
    from bertedu.weights import load_reference_bert

    return from_hf(load_reference_bert()).eval(), load_tokenizer()


def load_bert_tiny() -> tuple[Any, Any]:
    """The BERT-Tiny the book pretrains and ships (its encoder, ``model.bert``)."""
    from bertedu.checkpoints import load_pretrained_tiny
    from bertedu.tokenization import load_tokenizer

    return load_pretrained_tiny().bert.eval(), load_tokenizer()


#: Every model the explorer may offer, in menu order. Add a model with one line.
MODELS: dict[str, ModelLoader] = {
    MINILM: load_minilm,
    BERT_TINY: load_bert_tiny,
}
#: For entries that may be missing on a machine: a check, run before the entry is offered.
AVAILABLE_IF: dict[str, Callable[[], bool]] = {BERT_TINY: bert_tiny_is_shipped}


def available_models() -> dict[str, ModelLoader]:
    """The entries of :data:`MODELS` whose :data:`AVAILABLE_IF` check passes (or that have none)."""
    return {
        name: loader for name, loader in MODELS.items() if AVAILABLE_IF.get(name, lambda: True)()
    }
