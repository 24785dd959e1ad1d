"""Mixed precision: what runs in bfloat16, what stays in float32, and the errors."""

from __future__ import annotations

import pytest
import torch

from robustness_scaling.runtime import mixed_precision

CPU_BF16 = {"device": "cpu", "dtype": "float32", "autocast": "bfloat16"}


def test_matmuls_run_in_bfloat16_while_weights_and_gradients_stay_float32():
    layer = torch.nn.Linear(4, 3)
    with mixed_precision(CPU_BF16):
        out = layer(torch.ones(2, 4))
        assert not torch.backends.cuda.flash_sdp_enabled()  # the flag covers CPU kernels too
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == layer.weight.grad.dtype == torch.float32
    assert layer(torch.ones(2, 4)).dtype == torch.float32  # the context is left behind
    assert torch.backends.cuda.flash_sdp_enabled()


def test_a_training_step_inside_the_context_changes_the_next_forward():
    """The whole stage runs inside the context: cached bfloat16 weights would go stale."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    with mixed_precision(CPU_BF16):
        before = layer(torch.ones(2, 4))
        before.float().sum().backward()
        optimizer.step()
        after = layer(torch.ones(2, 4))
    assert not torch.equal(before, after)


def test_no_autocast_leaves_everything_in_the_models_dtype():
    layer = torch.nn.Linear(4, 3)
    with mixed_precision({"device": "cpu", "dtype": "float32", "autocast": None}):
        assert layer(torch.ones(2, 4)).dtype == torch.float32
    with mixed_precision({"device": "cpu", "dtype": "float32"}):  # a library caller's dict
        assert layer(torch.ones(2, 4)).dtype == torch.float32


def test_float16_autocast_is_refused_with_the_reason():
    message = r"autocast 'float16' is not supported; allowed: bfloat16"
    with (
        pytest.raises(ValueError, match=message),
        mixed_precision({**CPU_BF16, "autocast": "float16"}),
    ):
        pass
