"""framework.testing: the contract checks plugin authors call pass on the built-in components and catch the
typical mistakes with a message naming the rule."""
import pytest
import torch
from torch import nn

from framework import config, plugins
from framework.modules.outputs import BackboneOutput
from framework.testing import check_backbone, check_data_source, check_head, check_tokenizer


def _build(group, option, *overrides):
    node = config.validate_component(group, config.compose([f"{group}={option}", *overrides])[group])
    registry = {"model": "architecture"}.get(group, group)
    return plugins.registries()[registry].get(node.name).build_fn()(node)


@pytest.mark.parametrize("option", ["gpt_tiny", "bert_tiny", "t5_tiny"])
def test_built_in_architectures_pass(option):
    torch.manual_seed(0)
    check_backbone(_build("model", option, "model.vocab_size=64"))


def test_built_in_head_tokenizer_and_data_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    backbone = _build("model", "gpt_tiny", "model.vocab_size=64")
    node = config.validate_component("head", config.compose(["head=lm"]).head)
    check_head(plugins.registries().head.get("lm").build_fn()(node, backbone), backbone, per_token=True)
    check_tokenizer(_build("tokenizer", "byte"), directory=tmp_path / "tok")
    check_data_source(_build("data", "tiny_corpus"), "lm")


class Decoder(nn.Module):
    """A GRU decoder with switchable mistakes."""

    kind = "decoder"

    def __init__(self, peek: bool = False, ignore_cache: bool = False):
        super().__init__()
        self.vocab_size, self.hidden_size = 20, 8
        self.embed = nn.Embedding(20, 8)
        self.rnn = nn.GRU(8, 8, batch_first=True)
        self.peek, self.ignore_cache = peek, ignore_cache

    def get_input_embeddings(self):
        return self.embed

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False,
                output_hidden_states=False):
        x = self.embed(input_ids)
        state = None if past_key_values is None or self.ignore_cache else past_key_values
        h, state = self.rnn(x, state)
        if self.peek:
            h = h + h.mean(dim=1, keepdim=True)
        return BackboneOutput(h, (x, h) if output_hidden_states else None, state if use_cache else None)


def test_a_correct_decoder_passes_but_needs_mask_support_for_left_padding():
    torch.manual_seed(0)
    check_backbone(Decoder(), left_padding=False)
    with pytest.raises(AssertionError, match="left-padded prompt"):
        check_backbone(Decoder())


@pytest.mark.parametrize("mistake, message", [("peek", "must not look ahead"),
                                              ("ignore_cache", "from the cache must equal")])
def test_decoder_mistakes_are_named(mistake, message):
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=message):
        check_backbone(Decoder(**{mistake: True}), left_padding=False)


def test_wrong_output_type_and_missing_attributes_are_named():
    class Plain(Decoder):
        def forward(self, input_ids, **kwargs):
            return self.embed(input_ids)

    with pytest.raises(AssertionError, match="must return a BackboneOutput"):
        check_backbone(Plain())
    broken = Decoder()
    broken.kind = "recurrent"
    with pytest.raises(AssertionError, match="kind must be one of"):
        check_backbone(broken)


def test_head_with_the_wrong_width_is_named():
    backbone = _build("model", "gpt_tiny", "model.vocab_size=64")
    class FirstToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.out = nn.Linear(backbone.hidden_size, 4)

        def forward(self, hidden_states, attention_mask=None):
            return self.out(hidden_states[:, 0])

    check_head(FirstToken(), backbone, num_labels=4)
    with pytest.raises(AssertionError, match=r"expected \(2, 3\)"):
        check_head(FirstToken(), backbone, num_labels=3)
