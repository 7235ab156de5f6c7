import pytest
import torch
import torch.nn.functional as F
from torch import nn

from framework.modules.lora import LoRALinear


def wrapped(r=4, alpha=8.0):
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, r, alpha)
    return base, layer


def test_starts_as_the_base_layer_and_freezes_it():
    base, layer = wrapped()
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["lora_a", "lora_b"]


def test_computes_the_low_rank_update_scaled_by_alpha_over_r():
    base, layer = wrapped(r=4, alpha=8.0)
    with torch.no_grad():
        layer.lora_b.normal_()
    x = torch.randn(3, 6)
    effective = base.weight + 2.0 * layer.lora_b @ layer.lora_a
    torch.testing.assert_close(layer(x), F.linear(x, effective, base.bias))
    torch.testing.assert_close(layer.weight, effective)  # for code that reads a layer's weight directly
    torch.testing.assert_close(layer.merged()(x), layer(x))
    assert type(layer.merged()) is nn.Linear


def test_only_the_adapters_get_gradients():
    base, layer = wrapped()
    layer(torch.randn(3, 6)).sum().backward()
    assert base.weight.grad is None and layer.lora_b.grad is not None
    assert layer.lora_b.grad.abs().sum() > 0  # B starts at zero, A does not: B learns first


def test_rank_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        LoRALinear(nn.Linear(2, 2), 0, 1.0)
