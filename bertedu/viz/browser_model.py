"""The shipped BERT-Tiny as files a static page can run: an ONNX graph and the vocabulary.

The attention explorer of chapter 8 has a text box that runs the book's BERT-Tiny in the
reader's browser, with no kernel and no network, through onnxruntime-web. This module
makes what that needs from the shipped weights (``bertedu/checkpoints/bert-tiny-wiki``):

* :func:`export_onnx`: the model as an ONNX graph whose outputs are the MLM logits
  ``[1, seq, vocab]``, the NSP logits ``[1, 2]`` and every attention map
  ``[1, layers, heads, seq, seq]``, for any ``seq`` up to :data:`MAX_POSITIONS`;
* :func:`store_weights_as_fp16`: the shipped weights are fp16 values, so the graph keeps
  them as fp16 initialisers with a ``Cast`` to fp32 in front: the same fp32 numbers at
  half the size;
* :func:`write_browser_assets`: the graph and the vocabulary wrapped as classic
  ``<script>`` files. A page opened from ``file://`` may not ``fetch`` its neighbours
  (Chromium refuses file URLs), but it may load scripts: each file stores its bytes,
  gzipped and base64-encoded, in ``window.berteduAssets[name]``.

``scripts/export_onnx.py`` runs it for the book build (into ``book/static/bert-tiny/``,
never committed); ``scripts/fetch_web_assets.sh`` wraps onnxruntime-web's WebAssembly the
same way. Nothing is loaded until the reader presses the explorer's button.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: The longest input the browser model takes (chapter 5's sequence length).
MAX_POSITIONS = 128
#: ONNX opset of the export (onnxruntime-web's WebAssembly backend runs opsets 7 to 21+).
OPSET = 17
#: The graph's inputs and outputs, by name (explorer.js uses the same names).
INPUTS = ("input_ids", "token_type_ids")
OUTPUTS = ("mlm_logits", "nsp_logits", "attentions")
#: The files :func:`write_browser_assets` writes, and the keys they store.
MODEL_SCRIPT, MODEL_KEY = "model.js", "bert-tiny.onnx.gz"
VOCAB_SCRIPT, VOCAB_KEY = "vocab.js", "vocab.txt.gz"
MANIFEST = "manifest.json"
#: onnxruntime-web's files under ``_static/vendor/ort/`` (scripts/fetch_web_assets.sh
#: writes them; explorer.js's browser_model.js loads them, in this order).
RUNTIME_FILES = ("ort.wasm.min.js", "ort-glue.js", "ort-wasm.js")


class PretrainingOutputs(nn.Module):
    """A ``BertForPreTraining`` whose forward returns plain tensors, as ONNX needs them.

    ``forward(input_ids, token_type_ids)`` (batch of one, no padding, so no attention
    mask) -> ``(mlm_logits, nsp_logits, attentions)`` with the attention maps of every
    layer stacked on axis 1.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        output = self.model(input_ids, token_type_ids, output_attentions=True)
        return output.mlm_logits, output.nsp_logits, torch.stack(output.attentions, dim=1)


def export_onnx(model: nn.Module, path: Path) -> Path:
    """Export a ``BertForPreTraining`` (eval mode, fp32) to ``path`` as an ONNX graph.

    The sequence axis is dynamic. Constant folding is off so that the MLM decoder, tied
    to the word embeddings, stays one tensor in the file instead of two.
    """
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; say so clearly)
    except ImportError as error:
        raise ImportError(
            "Exporting to ONNX needs the onnx package: pip install onnx==1.23.2 "
            "(it is in requirements.txt)."
        ) from error
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = PretrainingOutputs(model).eval()
    example = torch.tensor([[101, 1996, 3007, 103, 102]])  # [CLS] the capital [MASK] [SEP]
    sequence = {1: "seq"}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            wrapper,
            (example, torch.zeros_like(example)),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            do_constant_folding=False,
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes={
                "input_ids": sequence,
                "token_type_ids": sequence,
                "mlm_logits": sequence,
                "attentions": {3: "seq", 4: "seq"},
            },
        )
    return path


def store_weights_as_fp16(path: Path) -> int:
    """Store every fp32 initialiser whose values are exact in fp16 as fp16 plus a ``Cast``.

    The graph computes with the same fp32 numbers (an fp16 value converts to fp32
    exactly); the file shrinks by half. Returns how many initialisers were converted.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    casts, kept = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        half = values.astype(np.float16)
        if values.dtype != np.float32 or not np.array_equal(half.astype(np.float32), values):
            kept.append(tensor)
            continue
        stored = numpy_helper.from_array(half, name=f"{tensor.name}.fp16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [tensor.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))
    return len(casts)


def asset_script(key: str, data: bytes) -> str:
    """``data`` gzipped and base64-encoded as a classic script: ``berteduAssets[key] = "..."``.

    gzip's header carries no time stamp (``mtime=0``), so the same bytes give the same file.
    """
    packed = base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")
    return (
        "// Made by bertedu (scripts/export_onnx.py): base64 of gzipped bytes, loaded by\n"
        "// bertedu/viz/assets/explorer.js with a <script> tag (which file:// pages allow).\n"
        f'(window.berteduAssets = window.berteduAssets || {{}})["{key}"] = "{packed}";\n'
    )


def write_browser_assets(
    folder: Path, model: nn.Module | None = None, vocab_file: Path | None = None
) -> dict[str, object]:
    """Write the browser model's files into ``folder``; return the manifest (also written).

    ``model`` defaults to the shipped BERT-Tiny (:func:`bertedu.weights.load_pretrained_tiny`),
    ``vocab_file`` to the book's bert-base-uncased ``vocab.txt``. The manifest gives each
    file's size in bytes, the model's sha256 and :data:`MAX_POSITIONS`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if model is None:
        from bertedu.weights import load_pretrained_tiny

        model = load_pretrained_tiny()
    if vocab_file is None:
        from bertedu.tokenization import minilm_path

        vocab_file = minilm_path() / "vocab.txt"
    onnx_path = export_onnx(model.float().eval(), folder / "bert-tiny.onnx")
    store_weights_as_fp16(onnx_path)
    graph = onnx_path.read_bytes()
    onnx_path.unlink()  # the page loads model.js; the raw graph would only add megabytes
    files = {
        MODEL_SCRIPT: asset_script(MODEL_KEY, graph),
        VOCAB_SCRIPT: asset_script(VOCAB_KEY, Path(vocab_file).read_bytes()),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="ascii")
    manifest = {
        "files": {name: (folder / name).stat().st_size for name in files},
        "onnx_bytes": len(graph),
        "onnx_sha256": hashlib.sha256(graph).hexdigest(),
        "max_positions": MAX_POSITIONS,
        "opset": OPSET,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest
