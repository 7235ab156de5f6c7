"""From-scratch GPT weights: GPT-2's scheme, residual-stream projections scaled down with depth."""
import torch

from plugins.gpt.config import GPTConfig
from plugins.gpt.model import GPT

from framework.model import TaskModel
from framework.training.init import init_weights


def test_residual_projections_are_scaled_by_depth():
    torch.manual_seed(0)
    layers = 8
    gpt = GPT(GPTConfig(vocab_size=100, n_embd=128, n_layer=layers, n_head=4, n_positions=32))
    init_weights(TaskModel(gpt))
    residual = 0.02 / (2 * layers) ** 0.5
    for layer in gpt.layers:
        assert abs(layer.attn.out.weight.std().item() - residual) < 0.1 * residual
        assert abs(layer.ffn.down.weight.std().item() - residual) < 0.1 * residual
        assert abs(layer.attn.qkv.weight.std().item() - 0.02) < 0.002
        assert layer.attn.qkv.bias.abs().sum().item() == 0.0
    assert abs(gpt.embeddings.word.weight.std().item() - 0.02) < 0.002
