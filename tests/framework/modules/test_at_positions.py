"""A layer computed at chosen positions gives the full layer's output (and gradients) at those positions."""
import pytest
import torch

from framework.modules import TransformerLayer, padding_mask
from framework.modules.at_positions import layer_at_positions


@pytest.mark.parametrize("pre_norm", [False, True])
def test_matches_the_full_layer_at_the_chosen_positions(pre_norm):
    torch.manual_seed(0)
    layer = TransformerLayer(32, 4, 64, pre_norm=pre_norm).eval()
    x = torch.randn(3, 10, 32, requires_grad=True)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 7:] = 0  # padding: keys hidden from every query
    chosen = torch.zeros(3, 10, dtype=torch.bool)
    chosen[0, [1, 4, 5]] = True
    chosen[1, [0, 6]] = True  # row 2 has none
    bias = padding_mask(mask)
    got = layer_at_positions(layer, x, chosen, bias)
    expected = layer(x, bias=bias)[0][chosen]
    assert got.shape == (5, 32)
    torch.testing.assert_close(got, expected)
    g = torch.randn_like(got)
    grads = torch.autograd.grad(got, [x, *layer.parameters()], g)
    expected_grads = torch.autograd.grad(expected, [x, *layer.parameters()], g)
    for a, e in zip(grads, expected_grads):
        torch.testing.assert_close(a, e)


def test_bert_output_mask_gives_the_rows_of_the_full_forward():
    from omegaconf import OmegaConf

    from plugins.bert.model import build

    torch.manual_seed(0)
    bert = build(OmegaConf.create(dict(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                       intermediate_size=64, hidden_act="gelu", dropout=0.0, attention_dropout=0.0,
                                       max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12)))
    ids = torch.randint(0, 40, (2, 12))
    chosen = torch.rand(2, 12) < 0.3
    chosen[0, 0] = True
    full = bert(ids).last_hidden_state
    torch.testing.assert_close(bert(ids, output_mask=chosen).last_hidden_state, full[chosen])
    # with hidden states asked for, every layer runs whole and the last state is still selected
    out = bert(ids, output_mask=chosen, output_hidden_states=True)
    torch.testing.assert_close(out.last_hidden_state, full[chosen])
    assert out.hidden_states[-1].shape == (2, 12, 32)


def test_a_wrapped_last_layer_runs_whole_instead_of_its_weights_being_read(monkeypatch):
    """FSDP wraps (and shards) each layer: the partial pass would read flat shards as weight matrices. A last layer
    that is not a plain TransformerLayer runs through its own forward, and the rows are selected after."""
    from omegaconf import OmegaConf

    from plugins.bert import model as bert_model

    torch.manual_seed(0)
    bert = bert_model.build(OmegaConf.create(dict(
        vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        hidden_act="gelu", dropout=0.0, attention_dropout=0.0, max_position_embeddings=16, type_vocab_size=2,
        layer_norm_eps=1e-12)))
    ids, chosen = torch.randint(0, 40, (2, 12)), torch.rand(2, 12) < 0.3
    full = bert(ids).last_hidden_state

    class Wrapper(torch.nn.Module):  # stands in for FSDP's wrapper around the layer
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kwargs):
            return self.inner(*args, **kwargs)

    bert.layers[-1] = Wrapper(bert.layers[-1])
    monkeypatch.setattr(bert_model, "layer_at_positions", lambda *a: pytest.fail("read a wrapped layer's weights"))
    torch.testing.assert_close(bert(ids, output_mask=chosen).last_hidden_state, full[chosen])
