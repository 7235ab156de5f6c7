import pytest
import torch
from omegaconf import OmegaConf

from framework.errors import ConfigError
from plugins.objectives import causal_lm, classification, masked_lm, qa, seq2seq, span_corruption
from plugins.objectives.base import IGNORE_INDEX


class FakeTokenizer:
    """The attributes the objectives read from framework.tokenizers.Tokenizer."""

    name = "wordpiece"
    vocab_size = 1000
    pad_id, unk_id, cls_id, sep_id, mask_id, eos_id = 0, 1, 2, 3, 4, 5
    sentinel_ids = list(range(999, 899, -1))  # T5 style: <extra_id_0> is the last id
    special_ids = {0, 1, 2, 3, 4, 5, *range(900, 1000)}

    def id_to_token(self, i):
        return f"##p{i}" if i % 2 else f"w{i}"  # odd ids continue a word


def cfg(**kw):
    return OmegaConf.create(kw)


def test_masked_lm_80_10_10_proportions():
    torch.manual_seed(0)
    obj = masked_lm.build(cfg(mask_probability=0.15, mask_token_probability=0.8, random_probability=0.1,
                              whole_word_masking=False), FakeTokenizer())
    ids = torch.randint(10, 900, (64, 256))
    ids[:, 0], ids[:, -1] = 2, 3
    mask = torch.ones_like(ids)
    mask[:, 200:] = 0
    out = obj.prepare({"input_ids": ids, "attention_mask": mask})
    chosen = out["labels"] != IGNORE_INDEX
    assert torch.equal(out["labels"][chosen], ids[chosen])
    assert not chosen[:, 0].any() and not chosen[:, 200:].any()  # specials and padding never chosen
    rate = chosen.sum().item() / (64 * 198)
    assert abs(rate - 0.15) < 0.01
    n = chosen.sum().item()
    masked = (out["input_ids"][chosen] == 4).sum().item() / n
    kept = (out["input_ids"][chosen] == ids[chosen]).sum().item() / n
    assert abs(masked - 0.8) < 0.02
    assert abs(kept - 0.1) < 0.02  # (a random token equal to the original is rare: 1/1000)
    assert torch.equal(out["input_ids"][~chosen], ids[~chosen])


def test_whole_word_masking_masks_every_piece_of_a_word():
    torch.manual_seed(0)
    obj = masked_lm.build(cfg(mask_probability=0.3, mask_token_probability=1.0, random_probability=0.0,
                              whole_word_masking=True), FakeTokenizer())
    # words: even id starts a word, odd ids continue it -> words of length 3 here
    row = torch.tensor([10, 11, 13, 20, 21, 23, 30, 31, 33, 40, 41, 43] * 8)
    out = obj.prepare({"input_ids": row.unsqueeze(0).repeat(16, 1), "attention_mask": torch.ones(16, 96, dtype=torch.long)})
    chosen = (out["labels"] != IGNORE_INDEX).view(16, -1, 3)
    assert chosen.any()
    assert torch.equal(chosen.all(-1), chosen.any(-1))  # all pieces of a word or none


def test_masked_lm_needs_a_mask_token():
    tok = FakeTokenizer()
    tok.mask_id = None
    with pytest.raises(ConfigError, match="mask token"):
        masked_lm.build(cfg(mask_probability=0.15, mask_token_probability=0.8, random_probability=0.1,
                            whole_word_masking=False), tok)


def test_causal_lm_shifts_and_ignores_padding():
    obj = causal_lm.build(cfg(label_smoothing=0.0))
    ids = torch.tensor([[5, 6, 7, 0]])
    batch = obj.prepare({"input_ids": ids, "attention_mask": torch.tensor([[1, 1, 1, 0]])})
    assert batch["labels"].tolist() == [[5, 6, 7, IGNORE_INDEX]]
    # logits that put all mass on the next token give ~0 loss; the padded position does not count
    logits = torch.full((1, 4, 10), -1e4)
    logits[0, 0, 6] = logits[0, 1, 7] = 1e4
    out = type("O", (), {"logits": logits})()
    assert obj.loss(out, batch).item() < 1e-3
    assert obj.count_targets(batch).item() == 2


def test_span_corruption_shapes_sentinels_and_density():
    torch.manual_seed(0)
    tok = FakeTokenizer()
    obj = span_corruption.build(cfg(noise_density=0.15, mean_noise_span_length=3.0), tok)
    ids = torch.randint(10, 800, (8, 200))
    out = obj.prepare({"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    sentinels = set(tok.sentinel_ids)
    for row in range(8):
        inp = [t for t in out["input_ids"][row].tolist() if t != 0]
        tgt = [t for t in out["labels"][row].tolist() if t != IGNORE_INDEX]
        assert inp[-1] == 5 and tgt[-1] == 5  # both end with EOS
        in_sent = [t for t in inp if t in sentinels]
        tgt_sent = [t for t in tgt if t in sentinels]
        assert in_sent == tok.sentinel_ids[: len(in_sent)]  # numbered 0, 1, 2, ... in order
        assert tgt_sent[: len(in_sent)] == in_sent
        hidden = len(tgt) - len(tgt_sent) - 1
        assert hidden == 200 - (len(inp) - len(in_sent) - 1)  # every token is in exactly one of the two
        assert hidden == 30  # round(200 * 0.15)
        assert abs(len(in_sent) - 10) <= 1  # 30 / 3 spans
        # reconstruct the original from input + target
        spans, cur = {}, None
        for t in tgt[:-1]:
            if t in sentinels:
                cur = t
                spans[cur] = []
            else:
                spans[cur].append(t)
        rebuilt = []
        for t in inp[:-1]:
            rebuilt.extend(spans[t] if t in sentinels else [t])
        assert rebuilt == ids[row].tolist()
    assert torch.equal(out["decoder_input_ids"][:, 1:], out["labels"][:, :-1].clamp_min(0))
    assert (out["decoder_input_ids"][:, 0] == 0).all()


def test_span_corruption_needs_sentinels():
    tok = FakeTokenizer()
    tok.sentinel_ids = []
    tok.token_to_id = lambda t: None
    with pytest.raises(ConfigError, match="sentinel") as err:
        span_corruption.build(cfg(noise_density=0.15, mean_noise_span_length=3.0), tok)
    # the hint names a real tokenizer option and key
    from framework.config import conf_dir
    assert "tokenizer=t5_sentencepiece" in err.value.hint and (conf_dir() / "tokenizer" / "t5_sentencepiece.yaml").is_file()
    assert "tokenizer.num_sentinels=100" in err.value.hint


def test_seq2seq_teacher_forcing_and_label_smoothing():
    obj = seq2seq.build(cfg(label_smoothing=0.0), FakeTokenizer())
    batch = obj.prepare({"input_ids": torch.tensor([[7, 8]]), "labels": torch.tensor([[11, 12, 5, IGNORE_INDEX]])})
    assert batch["decoder_input_ids"].tolist() == [[0, 11, 12, 5]]
    logits = torch.randn(1, 4, 20)
    out = type("O", (), {"logits": logits})()
    plain = obj.loss(out, batch)
    smooth = seq2seq.build(cfg(label_smoothing=0.1), FakeTokenizer()).loss(out, batch)
    expected = torch.nn.functional.cross_entropy(logits[0, :3], torch.tensor([11, 12, 5]))
    assert torch.allclose(plain, expected) and not torch.allclose(plain, smooth)


def test_classification_and_qa_losses():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    out = type("O", (), {"logits": logits})()
    seq = classification.build_sequence(cfg(label_smoothing=0.0, class_weights=None))
    assert torch.allclose(seq.loss(out, {"labels": torch.tensor([0, 1])}),
                          torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])))
    weighted = classification.build_sequence(cfg(label_smoothing=0.0, class_weights=[1.0, 0.0]))
    assert torch.allclose(weighted.loss(out, {"labels": torch.tensor([0, 1])}),
                          torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0])))
    span = torch.full((1, 6, 2), -10.0)
    span[0, 2, 0] = span[0, 4, 1] = 10.0
    q = qa.build(cfg(max_answer_length=30))
    good = q.loss(type("O", (), {"logits": span})(), {"start_positions": torch.tensor([2]), "end_positions": torch.tensor([4])})
    bad = q.loss(type("O", (), {"logits": span})(), {"start_positions": torch.tensor([1]), "end_positions": torch.tensor([4])})
    assert good.item() < 1e-3 and bad.item() > 5
