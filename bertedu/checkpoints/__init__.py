"""The data folder of the shipped BERT-Tiny (``bert-tiny-wiki/``); its loaders live in
:mod:`bertedu.weights` and are importable from here under their published names."""

from bertedu.weights import (
    bert_tiny_is_shipped,
    load_pretrained_tiny,
    pretrained_tiny_info,
    pretrained_tiny_path,
)

__all__ = [
    "bert_tiny_is_shipped",
    "load_pretrained_tiny",
    "pretrained_tiny_info",
    "pretrained_tiny_path",
]
