"""From-scratch T5 weights follow T5's fan-in scheme, so a tied model starts with logits of unit scale."""
import torch

from plugins.heads.lm import LMHead
from plugins.t5.config import T5Config
from plugins.t5.model import T5

from framework.model import TaskModel
from framework.training.init import init_weights

D, DK, HEADS, FF = 64, 16, 4, 256


def model() -> TaskModel:
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=500, d_model=D, d_kv=DK, d_ff=FF, num_layers=2, num_heads=HEADS, dropout=0.0,
                   attention_dropout=0.0)
    backbone = T5(cfg)
    head = LMHead(D, 500, embedding=backbone.shared, rescale=True)
    m = TaskModel(backbone, head)
    init_weights(m)
    return m


def close(std: float, expected: float) -> bool:
    return abs(std - expected) / expected < 0.1


def test_matrices_are_scaled_by_their_fan_in():
    t5 = model().backbone
    attn = t5.encoder.layers[0].attn
    inner = HEADS * DK
    assert close(t5.shared.weight.std().item(), 1.0)
    assert close(attn.qkv.weight[:inner].std().item(), (D * DK) ** -0.5)
    assert close(attn.qkv.weight[inner:].std().item(), D ** -0.5)
    assert close(attn.out.weight.std().item(), inner ** -0.5)
    cross = t5.decoder.layers[0].cross_attn
    assert close(cross.q.weight.std().item(), (D * DK) ** -0.5)
    assert close(t5.encoder.layers[0].ffn.down.weight.std().item(), FF ** -0.5)


def test_tied_rescaled_head_starts_with_unit_scale_logits():
    m = model().eval()
    ids = torch.randint(0, 500, (2, 10))
    logits = m(ids, decoder_input_ids=ids).logits
    assert 0.5 < logits.std().item() < 2.0  # std-0.02 weights gave ~0.02: near-uniform, slow to learn
