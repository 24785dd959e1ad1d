"""Attention over a shared prefix equals attention over each row's own copy of it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from robustness_scaling.attacks.shared_attention import (
    Shared,
    shared_prefix,
    shared_prefix_attention,
)


class _Layer(torch.nn.Module):
    layer_idx = 0


@pytest.mark.parametrize("kv_heads", [4, 2])  # plain and grouped-query attention
def test_shared_prefix_attention_equals_attention_over_copied_keys(kv_heads):
    torch.manual_seed(0)
    examples, rows, heads, width, query, dim = 3, 7, 4, 5, 4, 8
    example = torch.tensor([2, 0, 0, 1, 2, 2, 0])
    shared_keys = torch.randn(examples, kv_heads, width, dim)
    shared_values = torch.randn(examples, kv_heads, width, dim)
    visible = torch.rand(rows, width) < 0.7
    visible[:, 0] = True
    q = torch.randn(rows, heads, query, dim)
    k = torch.randn(rows, kv_heads, query, dim)
    v = torch.randn(rows, kv_heads, query, dim)
    own = torch.ones(query, query, dtype=torch.bool).tril()[None, None].expand(rows, 1, -1, -1)

    shared = Shared([shared_keys], [shared_values], example, visible)
    model = SimpleNamespace(config=SimpleNamespace(_attn_implementation="sdpa"))
    with shared_prefix(model, shared):
        assert model.config._attn_implementation != "sdpa"
        out, _ = shared_prefix_attention(_Layer(), q, k, v, own, scaling=dim**-0.5)
    assert model.config._attn_implementation == "sdpa"  # restored after the block

    groups = heads // kv_heads
    keys = torch.cat([shared_keys[example], k], dim=2).repeat_interleave(groups, dim=1)
    values = torch.cat([shared_values[example], v], dim=2).repeat_interleave(groups, dim=1)
    mask = torch.cat([visible[:, None, None, :].expand(-1, 1, query, -1), own], dim=-1)
    expected = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
    torch.testing.assert_close(out, expected.transpose(1, 2), rtol=1e-5, atol=1e-6)


def test_the_attention_needs_its_context():
    q = torch.zeros(1, 1, 1, 2)
    with pytest.raises(RuntimeError, match="only inside shared_prefix"):
        shared_prefix_attention(_Layer(), q, q, q, None)
