"""Tokenizer round trip, classifier loading from local paths, and the families' compute facts."""

from __future__ import annotations

import pytest
import torch

from conftest import save_random_lm
from robustness_scaling.models.families import HUB_FAMILIES
from robustness_scaling.models.load import (
    ModelSourceError,
    load_causal_lm,
    load_classifier,
    load_tokenizer,
    pad_batch,
    predict_labels,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "text",
    [
        "System password: Aaron\nUser password: aardvark\n---\n\n\nAnswer: GRANTED",
        "unseen ünïcödé 文字 and \t tabs @&@&@&",
        "",
    ],
)
def test_tokenizer_round_trip(tokenizer_dir, text):
    tokenizer = load_tokenizer(tokenizer_dir)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_tokenizer_pads_with_eos_on_the_right(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    assert tokenizer.padding_side == "right"
    assert len(tokenizer) == 300


def _neox(tmp_path, tokenizer_dir):
    from transformers import GPTNeoXConfig

    config = GPTNeoXConfig(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        eos_token_id=0,
        pad_token_id=0,
    )
    return save_random_lm(config, tmp_path / "neox", tokenizer_dir)


def _qwen(tmp_path, tokenizer_dir):
    from transformers import Qwen2Config

    config = Qwen2Config(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=128,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    return save_random_lm(config, tmp_path / "qwen", tokenizer_dir)


@pytest.mark.parametrize(
    ("build", "class_name"),
    [(_neox, "GPTNeoXForSequenceClassification"), (_qwen, "Qwen2ForSequenceClassification")],
)
def test_classifier_loads_from_a_local_path(tmp_path, tokenizer_dir, build, class_name):
    path = build(tmp_path, tokenizer_dir)
    tokenizer = load_tokenizer(path)
    model = load_classifier(path, tokenizer.pad_token_id, torch.float32, CPU)
    assert type(model).__name__ == class_name
    assert model.config.num_labels == 2
    assert model.score.out_features == 2
    texts = ["Word 1: a\nWord 2: bb\n---\n\n\nAnswer:", "x"]
    sequences = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    # The head reads the last non-pad token: padding a sequence must not change its logits.
    batch = pad_batch(sequences, tokenizer.pad_token_id, CPU)
    alone = pad_batch(sequences[1:], tokenizer.pad_token_id, CPU)
    with torch.no_grad():
        padded, single = model(**batch).logits[1], model(**alone).logits[0]
    torch.testing.assert_close(padded, single, rtol=1e-5, atol=1e-5)
    assert predict_labels(model, sequences, tokenizer.pad_token_id, 1).shape == (2,)


def test_missing_model_path_names_it(tmp_path):
    with pytest.raises(ModelSourceError, match="model directory '.*nowhere' does not exist"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(ModelSourceError, match="model directory '.*nowhere' does not exist"):
        load_classifier(tmp_path / "nowhere", 0, torch.float32, CPU)


def test_unloadable_model_directory_names_it(tmp_path):
    with pytest.raises(ModelSourceError, match="cannot load a tokenizer from '.*'"):
        load_tokenizer(tmp_path)
    with pytest.raises(ModelSourceError, match="cannot load a classifier from '.*'"):
        load_classifier(tmp_path, 0, torch.float32, CPU)


@pytest.mark.parametrize(
    ("family", "size", "generative"),
    [
        ("pythia", "14m", 14_067_712),
        ("pythia", "70m", 70_426_624),
        ("pythia", "12b", 11_846_072_320),
        ("qwen2.5", "0.5B", 494_032_768),
        ("qwen2.5", "3B", 3_085_938_688),
        ("qwen2.5", "7B", 7_615_616_512),
    ],
)
def test_generative_parameter_counts_match_the_published_models(family, size, generative):
    assert HUB_FAMILIES[family].sizes[size].generative_params == generative


def test_pretraining_compute_is_six_n_d():
    pythia = HUB_FAMILIES["pythia"].sizes["70m"]
    assert pythia.pretrain_flops == 6 * 70_426_624 * 299_892_736_000
    qwen = HUB_FAMILIES["qwen2.5"]
    assert qwen.sizes["0.5B"].pretrain_tokens == 18 * 10**12
    assert qwen.sizes["7B"].pretrain_tokens == qwen.sizes["3B"].pretrain_tokens == 10.5e12
    # Not the original study's bug: 3B and 7B keep their own parameter counts.
    assert qwen.sizes["3B"].classifier_params < qwen.sizes["7B"].classifier_params


@pytest.mark.parametrize(
    "size",
    [
        {"hidden_size": 16, "num_layers": 1, "num_heads": 2},
        {"hidden_size": 64, "num_layers": 3, "num_heads": 4, "intermediate_size": 100},
    ],
)
def test_tiny_classifier_params_match_the_built_model(size):
    from transformers import GPTNeoXForSequenceClassification

    from robustness_scaling.models.tiny import classifier_params, gpt_neox_config

    config = gpt_neox_config(size, 512, 0)
    config.num_labels = 2
    built = GPTNeoXForSequenceClassification(config).num_parameters()
    assert classifier_params(size, 512) == built


@pytest.mark.parametrize("cut", ["tensors", "header"])
def test_a_truncated_weights_file_is_named(neox_dir, tmp_path, cut):
    """A model directory whose safetensors file was cut short (a full disk, a killed copy)."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(neox_dir, model_dir)
    weights = model_dir / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if cut == "tensors" else data[:20])
    expected = "truncated safetensors file" if cut == "tensors" else "not a readable safetensors"
    for load in (
        lambda: load_classifier(model_dir, 0, torch.float32, CPU),
        lambda: load_causal_lm(model_dir, torch.float32, CPU),
    ):
        with pytest.raises(ModelSourceError) as caught:
            load()
        assert str(caught.value).startswith(f"{weights}: {expected}"), caught.value
        assert "remake or re-download the model" in str(caught.value)
