"""Clear messages instead of tracebacks (issue 27, item 4): a training file, an encoder folder,
weights and inputs that cannot be used are refused with what is wrong and what to do."""

from __future__ import annotations

import json

import pytest
import torch

from bertedu.cli import main
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.train.checkpoint import CheckpointMismatchError, load_weights, save_weights

pytestmark = pytest.mark.usefixtures("one_thread")

CONTEXT = "BERT was developed by Google's AI team in 2018."
QA = ["finetune-qa", "--profile", "smoke", "--no-progress", "--task", "extractive"]


def squad(question="Who developed BERT?", context=CONTEXT, start=None, qid="q7") -> dict:
    answer = {"text": "Google's AI team", "answer_start": CONTEXT.index("Google")}
    if start is not None:
        answer["answer_start"] = start
    qa = {"id": qid, "question": question, "answers": [answer]}
    return {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": [qa]}]}]}


def finetune(tmp_path, train_bytes: bytes, *more: str):
    train = tmp_path / "train.json"
    train.write_bytes(train_bytes)
    return main(
        [*QA, "--encoder", "bert-tiny", "--train", str(train), "--output", str(tmp_path / "out")]
        + list(more)
    )


# ------------------------------------------------------------------ --train files


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (squad(start="33.0"), r"question 'q7': 'answer_start' must be a whole number.*'33.0'"),
        (squad(start=-5), r"question 'q7': 'answer_start' must be a whole number.*-5"),
        (
            squad(question=None),
            r"question 'q7': 'question' must be a non-empty string, got missing",
        ),
        (squad(question="  "), r"question 'q7': 'question' must be a non-empty string"),
        (squad(context=None), r"question 'q7': its paragraph's 'context' must be a non-empty"),
        (squad(context=""), r"question 'q7': its paragraph's 'context' must be a non-empty"),
    ],
)
def test_a_bad_training_question_is_named(tmp_path, data, message):
    with pytest.raises(SystemExit, match=message):
        finetune(tmp_path, json.dumps(data).encode())


def test_a_latin1_training_file_says_to_save_it_as_utf8(tmp_path):
    text = json.dumps(squad(question="Qui a développé BERT ?"), ensure_ascii=False)
    with pytest.raises(SystemExit, match=r"not UTF-8 text \(byte 0xe9 .*Save it as UTF-8"):
        finetune(tmp_path, text.encode("latin-1"))


def test_a_deeply_nested_training_file_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="nests its JSON too deeply"):
        finetune(tmp_path, b"[" * 100_000 + b"]" * 100_000)


# ------------------------------------------------------------------ --encoder folders

CONFIG = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)


def encoder_folder(tmp_path, model, config_json) -> str:
    folder = tmp_path / "encoder"
    folder.mkdir(exist_ok=True)
    save_weights(model, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config_json))
    return str(folder)


def run_encoder(tmp_path, folder: str):
    return main([*QA, "--encoder", folder, "--output", str(tmp_path / "out")])


def test_an_encoder_config_that_is_a_list(tmp_path):
    folder = encoder_folder(tmp_path, BertModel(CONFIG), [1, 2])
    with pytest.raises(SystemExit, match="config.json holds a JSON list, not an object"):
        run_encoder(tmp_path, folder)


def test_an_encoder_config_with_a_huge_vocabulary_is_refused_before_building(tmp_path):
    folder = encoder_folder(tmp_path, BertModel(CONFIG), {**CONFIG.to_dict(), "vocab_size": 10**12})
    with pytest.raises(SystemExit, match=r"vocab_size 1000000000000 .*has shape \(300, 128\)"):
        run_encoder(tmp_path, folder)


def strangers_weights(tmp_path, change) -> str:
    """A safetensors file of another program, with ``change`` applied to a pretraining model's
    tensors (``bert.*`` and ``cls.*``)."""
    from safetensors.torch import save_file

    folder = tmp_path / "stranger"
    folder.mkdir()
    tensors = {k: v.clone() for k, v in BertForPreTraining(CONFIG).state_dict().items()}
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    return str(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.update({"bert.pooler.dense.weight": torch.zeros(64, 128)}),
            r"'bert.pooler.dense.weight' .* has shape \(64, 128\) but the model's is \(128, 128\)",
        ),
        (lambda t: t.pop("bert.pooler.dense.bias"), r"missing \['bert.pooler.dense.bias'\]"),
        (lambda t: t.update({"extra.weight": torch.zeros(2)}), r"unexpected \['extra.weight'\]"),
    ],
)
def test_a_strangers_weights_show_the_real_error(tmp_path, change, message):
    with pytest.raises(SystemExit, match=message) as refused:
        run_encoder(tmp_path, strangers_weights(tmp_path, change))
    assert "unexpected ['bert." not in str(refused.value)  # not the BertModel fallback's error


# ------------------------------------------------------------------ weights


def test_nan_weights_are_refused_at_load(tmp_path):
    model = BertForPreTraining(CONFIG)
    with torch.no_grad():
        model.bert.pooler.dense.weight[0, 0] = float("nan")
    save_weights(model, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointMismatchError, match="'bert.pooler.dense.weight' .* NaN"):
        load_weights(BertForPreTraining(CONFIG), tmp_path / "m.safetensors")


def test_integer_weights_are_refused(tmp_path):
    model = BertForPreTraining(CONFIG)
    save_weights(model, tmp_path / "m.safetensors", dtype=torch.int32)  # the floats become ints
    with pytest.raises(CheckpointMismatchError, match="holds torch.int32 values but the model"):
        load_weights(BertForPreTraining(CONFIG), tmp_path / "m.safetensors")


def test_from_hf_refuses_nan_weights():
    import transformers

    from bertedu.hf import config_to_hf, from_hf

    hf = transformers.BertModel(config_to_hf(CONFIG))
    with torch.no_grad():
        hf.encoder.layer[0].output.dense.bias[3] = float("nan")
    with pytest.raises(ValueError, match="'encoder.layer.0.output.dense.bias' holds NaN"):
        from_hf(hf)


# ------------------------------------------------------------------ inputs of the model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return BertForPreTraining(BertConfig.tiny()).eval()


def test_input_ids_as_a_list_says_to_make_a_tensor(tiny):
    with pytest.raises(ValueError, match=r"got a list; build one with torch.tensor\(\[\[101, 102"):
        tiny(input_ids=[[101, 102]])


def test_fill_mask_top_k_beyond_the_vocabulary(tiny, tokenizer):
    from bertedu.pretraining.inference import fill_mask

    with pytest.raises(ValueError, match=r"top_k must be .* from 1 to the vocabulary's size"):
        fill_mask(tiny, tokenizer, "paris is the [MASK] of france", top_k=10**6)
    assert len(fill_mask(tiny, tokenizer, "paris is the [MASK] .", top_k=3)[0]) == 3


@pytest.mark.parametrize(("a", "b", "which"), [("", "x", "sentence_a"), ("x", " ", "sentence_b")])
def test_is_next_probability_of_an_empty_sentence(tiny, tokenizer, a, b, which):
    from bertedu.pretraining.inference import is_next_probability

    with pytest.raises(ValueError, match=f"{which} is empty"):
        is_next_probability(tiny, tokenizer, a, b)


def test_a_typed_sep_is_refused_and_a_typed_mask_is_the_mask(tiny, tokenizer):
    from bertedu.pretraining.inference import fill_mask, is_next_probability

    with pytest.raises(ValueError, match=r"contains \[SEP\], which the tokenizer reads as"):
        fill_mask(tiny, tokenizer, "paris [SEP] is the [MASK] .")
    with pytest.raises(ValueError, match=r"sentence_a contains \[CLS\]"):
        is_next_probability(tiny, tokenizer, "[CLS] paris", "it is big.")
    assert 0 <= is_next_probability(tiny, tokenizer, "paris is a [MASK].", "it is big.") <= 1


def test_a_lone_surrogate_is_named(tiny, tokenizer):
    from bertedu.pretraining.inference import fill_mask

    with pytest.raises(ValueError, match=r"lone surrogate \(U\+DC80 at character 6\)"):
        fill_mask(tiny, tokenizer, "paris \udc80 is the [MASK].")
