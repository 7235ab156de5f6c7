"""The decoding layout of the head's big projections: same logits, refreshed when the weight changes."""
from __future__ import annotations

import torch
from torch import nn

from framework.inference import lm_head
from framework.inference.lm_head import big_linears, head_logits


class Head(nn.Module):
    def __init__(self, hidden: int, vocab: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, vocab, bias=False)

    def forward(self, x):
        return self.proj(self.norm(x))


def test_transposed_projection_gives_the_same_logits_and_follows_weight_updates():
    torch.manual_seed(0)
    head = Head(32, 1 << 15).eval()  # 32 x 32768 = 2**20 weights: just big enough
    assert big_linears(head) == ["proj"]
    with torch.inference_mode():
        for rows in (1, 8):
            x = torch.randn(rows, 1, 32)
            torch.testing.assert_close(head_logits(head, x, ["proj"]), head(x), atol=1e-5, rtol=1e-5)
        x = torch.randn(8, 1, 32)
        first = head_logits(head, x, ["proj"])
    with torch.no_grad():
        head.proj.weight.mul_(-1.0)  # an optimizer step changes the weight in place
    with torch.inference_mode():
        torch.testing.assert_close(head_logits(head, x, ["proj"]), -first, atol=1e-5, rtol=1e-5)
    assert head.proj.weight in lm_head._copies
    lm_head.release_copies()
    assert head.proj.weight not in lm_head._copies


def test_small_heads_and_row_counts_outside_the_range_keep_the_plain_layout(monkeypatch):
    head = Head(16, 100)
    assert big_linears(head) == []
    calls = []
    monkeypatch.setattr(lm_head, "_transposed", lambda w: calls.append(w) or w.t().contiguous())
    head_logits(head, torch.randn(2, 1, 16), ["proj"])  # fewer rows than MIN_ROWS
    head_logits(head, torch.randn(lm_head.MAX_ROWS + 1, 1, 16), ["proj"])  # more than MAX_ROWS
    assert calls == []
    head_logits(head, torch.randn(lm_head.MIN_ROWS, 1, 16), ["proj"])
    assert len(calls) == 1


def test_generation_with_the_transposed_head_gives_the_same_tokens(gpt, monkeypatch):
    ids, mask = gpt._encode_prompts(["The cat", "A dog", "x", "Hello there"])
    plain = gpt.generate_tokens(ids, mask, max_new_tokens=8)
    monkeypatch.setattr(lm_head, "MIN_WEIGHT", 0)  # the tiny test model's head counts as big
    used = []
    original = lm_head._transposed
    monkeypatch.setattr(lm_head, "_transposed", lambda w: used.append(w) or original(w))
    fast = gpt.generate_tokens(ids, mask, max_new_tokens=8)
    assert used, "the transposed layout was not used"
    assert [g.token_ids for h in fast for g in h] == [g.token_ids for h in plain for g in h]


def test_weights_made_under_inference_mode_keep_the_plain_layout():
    with torch.inference_mode():
        head = Head(32, 1 << 15)
        x = torch.randn(8, 1, 32)
        torch.testing.assert_close(head_logits(head, x, ["proj"]), head(x))
