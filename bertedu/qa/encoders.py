"""The encoder a reader starts from, loaded and checked, and the reader built on it.

``load_encoder`` gives ``(BertModel, tokenizer)`` for the book's two encoders (``bert-tiny``,
the BERT-Tiny pretrained in chapter 5; ``minilm``, all-MiniLM-L6-v2 through ``from_hf``) or a
folder a bertedu BERT was exported to. A folder is untrusted input: its ``config.json`` is
compared with the shapes in ``model.safetensors``'s header, on PyTorch's ``meta`` device,
before a model of the config's size is allocated, and a fine-tuned reader's folder is named
as one. ``build_model`` puts the span head or the encoder-decoder on an encoder.
``finetune-qa`` (:mod:`bertedu.qa.command`), chapter 9 and the benchmark scripts use both.
"""

from __future__ import annotations

import json
from pathlib import Path

ENCODERS = ("bert-tiny", "minilm")


def load_encoder(name: str | Path):
    """``(BertModel, tokenizer)`` for ``bert-tiny``, ``minilm`` or a folder of a bertedu BERT."""
    from bertedu.model import BertConfig, BertForPreTraining, BertModel
    from bertedu.tokenization import load_tokenizer

    tokenizer = load_tokenizer()
    if name == "bert-tiny":
        from bertedu.weights import load_pretrained_tiny

        return load_pretrained_tiny().bert, tokenizer
    if name == "minilm":
        from bertedu.hf import from_hf
        from bertedu.weights import load_reference_bert

        return from_hf(load_reference_bert()), tokenizer
    folder = Path(name).expanduser()
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise ValueError(
            f"Unknown encoder {str(name)!r}: use one of {', '.join(ENCODERS)} or a folder with "
            "config.json and model.safetensors (e.g. from bertedu.pretraining.export_pretrained)."
        )
    from bertedu.train.checkpoint import load_weights

    config = BertConfig.from_dict(_encoder_config(folder))
    shapes = _tensor_shapes(folder / "model.safetensors")
    _check_embedding_shape(config, shapes, folder)
    # The file's own names say which model wrote it: a pretraining model's start with "bert."
    kind = BertForPreTraining if any(key.startswith("bert.") for key in shapes) else BertModel
    _check_shapes(kind, config, shapes, folder)
    model = kind(config)
    load_weights(model, folder / "model.safetensors")  # its errors name the real mismatch
    return (model.bert if kind is BertForPreTraining else model), tokenizer


def _encoder_config(folder: Path) -> dict:
    """``folder/config.json`` as a dict, with an error naming the file when it is not one."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not a JSON file ({str(error)[:100]}).") from None
    if not isinstance(config, dict):
        raise ValueError(
            f"{path} holds a JSON {type(config).__name__}, not an object of BertConfig fields "
            "(vocab_size, hidden_size, ...). Write it with BertConfig.to_dict()."
        )
    if "task" in config and "encoder_config" in config:  # a reader's manifest
        came_from = config.get("encoder")
        origin = f"--encoder {came_from}" if came_from else "the encoder it was fine-tuned from"
        raise ValueError(
            f"{folder} is a fine-tuned {config['task']} reader (a finetune-qa --output), not an "
            f"encoder. Ask it questions with python -m bertedu answer --reader {folder} (or "
            f"bertedu.qa.load_reader); to fine-tune again, pass {origin}."
        )
    return config


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape in a safetensors file, read from its header only."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            return {name: tuple(file.get_slice(name).get_shape()) for name in file.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"{path} is not a readable safetensors file ({error}). Write it with "
            "bertedu.train.checkpoint.save_weights."
        ) from None


def _check_embedding_shape(config, shapes: dict[str, tuple[int, ...]], folder: Path) -> None:
    """Refuse a config.json whose vocabulary or width differs from the weights' embedding table
    before a model of that size is built (``vocab_size: 1e12`` would ask for terabytes)."""
    table = next((s for n, s in shapes.items() if n.endswith("word_embeddings.weight")), None)
    if table is not None and table != (config.vocab_size, config.hidden_size):
        raise ValueError(
            f"{folder / 'config.json'} says vocab_size {config.vocab_size} and hidden_size "
            f"{config.hidden_size}, but the word-embedding table in model.safetensors has shape "
            f"{table}: the config belongs to another model. Use the config.json written with "
            "these weights."
        )


def _check_shapes(kind, config, shapes: dict[str, tuple[int, ...]], folder: Path) -> None:
    """Refuse a config.json whose sizes disagree with the weights' shapes (read from the
    file's header) before a model of the config's size is allocated: the model is built on
    PyTorch's ``meta`` device, which records shapes and holds no numbers."""
    import re

    import torch

    layers = {int(m.group(1)) for n in shapes if (m := re.search(r"encoder\.layer\.(\d+)\.", n))}
    if layers and len(layers) != config.num_hidden_layers:
        raise ValueError(
            f"{folder / 'config.json'} says num_hidden_layers {config.num_hidden_layers}, but "
            f"model.safetensors holds {len(layers)} layers: the config belongs to another "
            "model. Use the config.json written with these weights."
        )
    with torch.device("meta"):
        skeleton = kind(config)
    for name, tensor in skeleton.state_dict().items():
        if name in shapes and shapes[name] != tuple(tensor.shape):
            raise ValueError(
                f"Tensor {name!r} in {folder / 'model.safetensors'} has shape {shapes[name]} but "
                f"the model's is {tuple(tensor.shape)} (as {folder / 'config.json'} makes it): "
                "the config belongs to another model. Use the config.json written with these "
                "weights."
            )


def build_model(task: str, encoder, **options):
    """The reader on ``encoder``: the span head, or the encoder-decoder (copying and
    warm-started unless ``options`` say otherwise, e.g. ``copy=False``)."""
    from bertedu.qa.extractive import BertForQuestionAnswering
    from bertedu.qa.generative import BertEncoderDecoder

    if task == "extractive":
        return BertForQuestionAnswering.from_encoder(encoder.train())
    return BertEncoderDecoder.from_encoder(
        encoder.train(), **({"copy": True, "warm_start": True} | options)
    )
