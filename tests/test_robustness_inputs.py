"""Every error says what to do: transformers task models, tokenizer paths, model inputs and
configs, QA lengths and offsets."""

from __future__ import annotations

import pytest
import torch
import transformers
from small_models import small_hf_config

from bertedu.hf import from_hf
from bertedu.model import BertConfig, BertForPreTraining, BertModel
from bertedu.qa.datasets import QAExample
from bertedu.qa.decoding import beam_search, greedy_decode
from bertedu.qa.extractive import BertForQuestionAnswering, answer_question, prepare_features
from bertedu.qa.generative import BertEncoderDecoder
from bertedu.tokenization import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ item 4: from_hf task models


def test_from_hf_masked_lm_gives_pretraining_model_with_untrained_nsp(recwarn):
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(small_hf_config(vocab_size=300)).eval()
    with pytest.warns(UserWarning, match="freshly initialised"):
        ours = from_hf(hf)
    assert isinstance(ours, BertForPreTraining) and not ours.training
    assert set(ours.untrained_parameters) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "cls.seq_relationship.weight",
        "cls.seq_relationship.bias",
    }
    ids = torch.randint(5, 300, (2, 10))
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours(ids).mlm_logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_from_hf_question_answering_gives_the_extractive_model():
    torch.manual_seed(0)
    hf = transformers.BertForQuestionAnswering(small_hf_config(vocab_size=300)).eval()
    with pytest.warns(UserWarning, match="pooler"):
        ours = from_hf(hf)
    assert isinstance(ours, BertForQuestionAnswering)
    assert all(name.startswith("bert.pooler.") for name in ours.untrained_parameters)
    ids = torch.randint(5, 300, (2, 10))
    with torch.no_grad():
        expected = hf(ids)
        got = ours(ids)
    torch.testing.assert_close(got.start_logits, expected.start_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.end_logits, expected.end_logits, rtol=1e-5, atol=1e-5)


def test_from_hf_encoder_without_pooler_is_converted():
    hf = transformers.BertModel(small_hf_config(vocab_size=300), add_pooling_layer=False).eval()
    with pytest.warns(UserWarning, match="pooler"):
        ours = from_hf(hf)
    ids = torch.randint(5, 300, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(
            ours(ids).last_hidden_state, hf(ids).last_hidden_state, rtol=1e-5, atol=1e-5
        )


def test_from_hf_of_another_task_model_says_what_to_do():
    with pytest.raises(TypeError, match=r"BertForQuestionAnswering.*model\.bert"):
        from_hf(transformers.BertForSequenceClassification(small_hf_config(vocab_size=300)))


# ------------------------------------------------------------------ item 5: tokenizer paths


@pytest.mark.parametrize("name", ["./no-such-tokenizer", "~/no/such/tokenizer", "a/b/c"])
def test_a_mistyped_tokenizer_path_says_the_folder_does_not_exist(name):
    with pytest.raises(FileNotFoundError, match="does not exist") as raised:
        load_tokenizer(name)
    assert "offline" not in str(raised.value)


def test_a_path_under_an_existing_folder_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tokenizer("runs/tokenizer")  # looks like owner/name, but runs/ is a local folder


# ------------------------------------------------------------------ item 6: inputs and configs

CONFIG = BertConfig.tiny(vocab_size=300, max_position_embeddings=32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool])
def test_non_integer_token_type_ids_are_explained(dtype):
    model = BertModel(CONFIG)
    ids = torch.randint(5, 300, (1, 6))
    with pytest.raises(ValueError, match=r"token_type_ids must hold integer.*\.long\(\)"):
        model(ids, token_type_ids=torch.zeros(1, 6, dtype=dtype))


@pytest.mark.parametrize("eps", [-1e-12, 0.0, 2.0])
def test_layer_norm_eps_must_be_small_and_positive(eps):
    with pytest.raises(ValueError, match="layer_norm_eps"):
        BertConfig.tiny(layer_norm_eps=eps)


def test_answer_question_max_length_beyond_positions_fails_at_once(tokenizer):
    model = BertForQuestionAnswering(CONFIG)
    # A short passage: the old code only failed once a window was longer than 32 positions.
    with pytest.raises(ValueError, match="max_length=600 is more than the model's 32 positions"):
        answer_question(model, tokenizer, "who?", "Ada wrote it.", max_length=600)


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_decoding_beyond_the_decoder_positions_fails_before_generating(search):
    model = BertEncoderDecoder(CONFIG)
    calls = []
    model.decode = lambda *a, **k: calls.append(1)  # never reached
    ids = torch.randint(5, 300, (1, 6))
    with pytest.raises(ValueError, match="more than the decoder's 32 positions"):
        if search == "greedy":
            greedy_decode(model, ids, max_new_tokens=33)
        else:
            beam_search(model, ids, max_new_tokens=33)
    assert calls == []


def test_a_misplaced_answer_start_is_refused(tokenizer):
    good = QAExample("q1", "who wrote it?", "It was Ada who wrote it.", ("Ada",), (7,))
    features = prepare_features([good], tokenizer, 32, 8)
    start = int(features.start_positions[0])
    assert tokenizer.convert_ids_to_tokens(int(features.input_ids[0, start])) == "ada"
    bad = QAExample("q2", "who wrote it?", "It was Ada who wrote it.", ("Ada",), (3,))
    with pytest.raises(ValueError, match=r"'Ada' is not at answer_start=3.*found 'was'"):
        prepare_features([bad], tokenizer, 32, 8)
