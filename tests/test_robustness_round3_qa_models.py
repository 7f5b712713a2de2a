"""Model and tokenizer folders after the third hostile test (issue 35, item 4 and the minor
cases): an ``--encoder`` whose config disagrees with its weights is refused before a model of
the config's size is built, a reader given as an encoder is named as one, a stranger's weights
report their real difference, a file of ``safetensors.torch.save_model`` loads, and no folder
gets to run its own Python code through ``load_tokenizer``."""

from __future__ import annotations

import builtins
import json
import shutil

import pytest
import torch

from bertedu.cli import main
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.train.checkpoint import CheckpointMismatchError, load_weights, save_weights

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)
QA = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]


def encoder(tmp_path, config_json: dict, model=None) -> str:
    folder = tmp_path / "encoder"
    folder.mkdir(exist_ok=True)
    save_weights(model or BertModel(CONFIG), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config_json))
    return str(folder)


def run_encoder(tmp_path, folder: str) -> int:
    return main([*QA, "--encoder", folder, "--output", str(tmp_path / "out")])


# ------------------------------------------------------------------ 11: config against weights


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (  # 128 x 10**9 floats: half a terabyte if the model were built first
            {"intermediate_size": 10**9},
            r"'encoder.layer.0.ffn.intermediate.weight' .* has shape \(512, 128\) but the "
            r"model's is \(1000000000, 128\)",
        ),
        (
            {"max_position_embeddings": 10**9},
            r"'embeddings.position_embeddings.weight' .* has shape \(32, 128\) but the model's "
            r"is \(1000000000, 128\)",
        ),
        (
            {"num_hidden_layers": 10**6},
            r"num_hidden_layers 1000000, but model.safetensors holds 2 layers",
        ),
    ],
)
def test_an_encoder_config_that_disagrees_with_its_weights_is_refused_first(
    tmp_path, change, message
):
    folder = encoder(tmp_path, {**CONFIG.to_dict(), **change})
    with pytest.raises(SystemExit, match=message):
        run_encoder(tmp_path, folder)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ 12: a reader as --encoder


def test_a_reader_given_as_encoder_is_named_as_a_reader(tmp_path):
    from bertedu.qa.extractive import BertForQuestionAnswering
    from bertedu.qa.finetune import QARecipe
    from bertedu.qa.reader import save_reader

    reader = BertForQuestionAnswering(CONFIG)
    save_reader(reader, tmp_path / "reader", recipe=QARecipe(), encoder="bert-tiny")
    with pytest.raises(
        SystemExit,
        match=r"reader is a fine-tuned extractive reader.*python -m bertedu answer --reader .*"
        r"load_reader.*--encoder bert-tiny",
    ) as refused:
        run_encoder(tmp_path, str(tmp_path / "reader"))
    assert "Unknown BertConfig fields" not in str(refused.value)


# ------------------------------------------------------------------ 13 and 14: weights files


def strangers_file(tmp_path, change=None) -> str:
    """A pretraining model's weights as another program writes them: tied tensors once (the
    decoder dropped), no bertedu metadata; ``change`` applied to the tensors."""
    from safetensors.torch import save_file

    tensors = {k: v.clone() for k, v in BertForPreTraining(CONFIG).state_dict().items()}
    del tensors["cls.predictions.decoder.weight"]  # tied to the word embeddings
    if change is not None:
        change(tensors)
    path = tmp_path / "stranger.safetensors"
    save_file(tensors, str(path))
    return str(path)


def test_a_strangers_wrong_shape_is_reported_before_the_tied_weight(tmp_path):
    path = strangers_file(
        tmp_path, lambda t: t.update({"bert.pooler.dense.weight": torch.zeros(64, 128)})
    )
    with pytest.raises(CheckpointMismatchError, match=r"'bert.pooler.dense.weight' .*\(64, 128\)"):
        load_weights(BertForPreTraining(CONFIG), path)


def test_a_strangers_file_without_the_tied_copy_loads(tmp_path):
    model = BertForPreTraining(CONFIG)
    load_weights(model, strangers_file(tmp_path))
    decoder = model.cls.predictions.decoder.weight
    assert decoder.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()


def test_a_file_written_by_safetensors_save_model_loads(tmp_path):
    from safetensors.torch import save_model

    torch.manual_seed(0)
    saved = BertForPreTraining(CONFIG)
    save_model(saved, str(tmp_path / "m.safetensors"))  # drops one of the two tied names
    loaded = load_weights(BertForPreTraining(CONFIG), tmp_path / "m.safetensors")
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_a_missing_weight_that_is_not_tied_is_still_named(tmp_path):
    path = strangers_file(tmp_path, lambda t: t.pop("bert.pooler.dense.bias"))
    with pytest.raises(CheckpointMismatchError, match=r"missing \['bert.pooler.dense.bias'\]"):
        load_weights(BertForPreTraining(CONFIG), path)


# ------------------------------------------------------------------ 15: no remote code


@pytest.fixture
def code_asking_folder(tmp_path):
    """A tokenizer folder whose tokenizer_config.json asks to run its own ``evil.py``."""
    from bertedu.tokenization import minilm_path

    folder = tmp_path / "tokenizer"
    folder.mkdir()
    shutil.copy(minilm_path() / "vocab.txt", folder / "vocab.txt")
    auto_map = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps({"auto_map": auto_map}))
    (folder / "evil.py").write_text(
        f"open({str(tmp_path / 'RAN')!r}, 'w').write('ran')\n"
        "from transformers import BertTokenizer\n\n\nclass EvilTokenizer(BertTokenizer):\n"
        "    pass\n"
    )
    return folder


def test_load_tokenizer_never_asks_to_run_a_folders_code(code_asking_folder, monkeypatch):
    from bertedu.tokenization import load_tokenizer

    prompts = []
    monkeypatch.setattr(builtins, "input", lambda *a: prompts.append(a) or "n")
    with pytest.raises(ValueError, match=r"tokenizer_config.json asks to run .*own Python code"):
        load_tokenizer(code_asking_folder)
    assert prompts == []
    assert not (code_asking_folder.parent / "RAN").exists()


def test_load_tokenizer_ignores_remote_code_next_to_a_standard_tokenizer(code_asking_folder):
    from bertedu.tokenization import load_tokenizer

    config = code_asking_folder / "tokenizer_config.json"
    config.write_text(
        json.dumps({**json.loads(config.read_text()), "tokenizer_class": "BertTokenizer"})
    )
    tokenizer = load_tokenizer(code_asking_folder)
    assert type(tokenizer).__name__ != "EvilTokenizer"
    assert tokenizer("Hello world")["input_ids"] == [101, 7592, 2088, 102]
    assert not (code_asking_folder.parent / "RAN").exists()


def test_every_load_tokenizer_call_passes_trust_remote_code_false(monkeypatch, tmp_path):
    from transformers import AutoTokenizer

    from bertedu.tokenization import load_tokenizer, minilm_path

    calls = []
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: calls.append(k))
    load_tokenizer()
    load_tokenizer(minilm_path())
    load_tokenizer("someone/tokenizer")
    assert calls == [{"trust_remote_code": False}] * 3
