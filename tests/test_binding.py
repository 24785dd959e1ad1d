"""Binding keys: the same settings and inputs give the same key; any change gives another."""

from __future__ import annotations

import os

from robustness_scaling.binding import binding_key


def test_a_key_follows_the_settings_and_the_inputs(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights")
    data = tmp_path / "validation.jsonl"
    data.write_text("{}\n")
    key = binding_key({"lr": 1e-3, "code": "abc"}, [model, data])
    assert key == binding_key({"code": "abc", "lr": 1e-3}, [model, data])
    assert key != binding_key({"lr": 2e-3, "code": "abc"}, [model, data])
    assert key != binding_key({"lr": 1e-3, "code": "abd"}, [model, data])
    stat = (model / "model.safetensors").stat()
    (model / "model.safetensors").write_bytes(b"retrained")
    assert key != binding_key({"lr": 1e-3, "code": "abc"}, [model, data])
    (model / "model.safetensors").write_bytes(b"weights")
    os.utime(model / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert key == binding_key({"lr": 1e-3, "code": "abc"}, [model, data])
    assert binding_key({}, ["EleutherAI/pythia-14m"]) == binding_key({}, ["EleutherAI/pythia-14m"])
