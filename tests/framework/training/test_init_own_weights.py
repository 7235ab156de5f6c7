"""A backbone's own init_weights() is kept, also for parameters a tied head shares with it."""
import torch
from torch import nn

from framework.model import TaskModel
from framework.training.init import init_weights


class Backbone(nn.Module):
    kind = "decoder"

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.proj = nn.Linear(16, 16)

    def init_weights(self):
        self.embed.weight.fill_(0.5)
        self.proj.weight.fill_(0.25)


class TiedHead(nn.Module):
    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.out = nn.Linear(16, 50, bias=False)
        self.out.weight = embedding.weight
        self.extra = nn.Linear(16, 16)


def test_tied_head_does_not_overwrite_the_backbone_init():
    backbone = Backbone()
    model = TaskModel(backbone, TiedHead(backbone.embed))
    init_weights(model)
    assert torch.all(backbone.embed.weight == 0.5) and torch.all(backbone.proj.weight == 0.25)
    assert model.head.extra.weight.std() < 0.1 and torch.all(model.head.extra.bias == 0)  # the head's own: normal(0, 0.02)
