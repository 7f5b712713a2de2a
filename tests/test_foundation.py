"""Profiles, seeds, devices, the hub-error helper and BertConfig."""

import random

import pytest
import torch

from bertedu.device import resolve_device
from bertedu.hub import HubUnavailableError, explain_hub_errors
from bertedu.model import BertConfig
from bertedu.profile import resolve_profile
from bertedu.seeding import seed_everything


@pytest.mark.parametrize("name", ["smoke", "cpu", "SMOKE", " cpu "])
def test_explicit_profiles_are_normalised(name):
    assert resolve_profile(name) == name.strip().lower()


def test_profile_comes_from_environment(monkeypatch):
    monkeypatch.setenv("BERTEDU_PROFILE", "smoke")
    assert resolve_profile() == "smoke"


def test_auto_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv("BERTEDU_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert resolve_profile() == expected
    assert resolve_profile("auto") == expected


def test_unknown_profile_is_explained():
    with pytest.raises(ValueError, match="Unknown profile 'fast'.*smoke, cpu, gpu"):
        resolve_profile("fast")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_profile_without_cuda_is_explained():
    with pytest.raises(ValueError, match="CUDA is not available.*BERTEDU_PROFILE=cpu"):
        resolve_profile("gpu")


def test_small_profiles_stay_on_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(profile="smoke") == torch.device("cpu")
    assert resolve_device(profile="cpu") == torch.device("cpu")


def test_device_follows_cuda_and_the_process_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == torch.device("cuda")
    assert resolve_device(profile="gpu", local_rank=3) == torch.device("cuda:3")
    assert resolve_device("cpu", profile="gpu") == torch.device("cpu")  # an explicit device wins
    assert resolve_profile("auto") == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(profile="gpu", local_rank=3) == torch.device("cpu")
    assert resolve_profile("auto") == "cpu"


def test_seed_everything_reproduces_all_generators():
    generator = seed_everything(7)
    first = (random.random(), torch.rand(3), torch.rand(3, generator=generator))
    generator = seed_everything(7)
    second = (random.random(), torch.rand(3), torch.rand(3, generator=generator))
    assert first[0] == second[0]
    assert torch.equal(first[1], second[1]) and torch.equal(first[2], second[2])


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_seed_must_be_a_natural_number(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(seed)


def test_hub_errors_name_the_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match="offline mode is on.*use the embedded corpus"):
        with explain_hub_errors("the dataset 'wikitext'", "use the embedded corpus"):
            raise ConnectionError("no route to host")


def test_tiny_config_matches_google_bert_tiny():
    config = BertConfig.tiny()
    assert (
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        config.max_position_embeddings,
        config.vocab_size,
    ) == (2, 128, 2, 512, 512, 30522)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1
    assert BertConfig.tiny(num_attention_heads=8).head_dim == 16


def test_config_round_trips_through_dict():
    config = BertConfig.tiny(num_attention_heads=8)
    assert BertConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_attention_heads": 3}, "divisible by num_attention_heads"),
        ({"hidden_size": 0}, "positive integer"),
        ({"hidden_dropout_prob": 1.0}, r"in \[0, 1\)"),
    ],
)
def test_bad_configs_are_explained(overrides, message):
    with pytest.raises(ValueError, match=message):
        BertConfig.tiny(**overrides)


def test_unknown_config_keys_are_rejected():
    with pytest.raises(ValueError, match="Unknown BertConfig fields.*hiden_size"):
        BertConfig.from_dict({"hiden_size": 10})
