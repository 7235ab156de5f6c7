"""Sentence embeddings from a bare encoder (`embed`, `nlpf embed`), and the clear refusals around it."""
from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from framework.checkpoint import save_checkpoint
from framework.cli import main
from framework.config import load
from framework.errors import NlpfError
from framework.model import build_model
from framework.tokenizers.build import build_tokenizer
from tests.framework.inference.conftest import GPT, T5, Loaded, make

TEXTS = ["a short one", "a somewhat longer sentence than the others here", "mid length text"]


def _bare_encoder_parts():
    cfg = load(["model=bert_tiny", "head=bert_mlm", "objective=masked_lm", "tokenizer=byte"])
    cfg = OmegaConf.create({k: v for k, v in OmegaConf.to_container(cfg).items() if k not in ("head", "objective")})
    tok = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size = tok.vocab_size
    torch.manual_seed(0)
    return build_model(cfg, vocab_size=tok.vocab_size).eval(), tok, cfg


@pytest.fixture(scope="module")
def encoder():
    return Loaded(*_bare_encoder_parts())


def _hidden(encoder, text):
    ids = torch.tensor([encoder.tokenizer.encode(text)])
    with torch.no_grad():
        return encoder.model.backbone(ids).last_hidden_state[0]


def test_mean_pooled_embeddings_ignore_padding_and_keep_the_input_order(encoder):
    assert encoder.task == "encoder"
    vectors = encoder.embed(TEXTS, batch_size=2)  # batches mix lengths: padding must not count
    for text, vector in zip(TEXTS, vectors):
        expected = torch.nn.functional.normalize(_hidden(encoder, text).mean(0), dim=-1)
        torch.testing.assert_close(vector, expected, atol=1e-5, rtol=0)
    assert vectors.norm(dim=-1) == pytest.approx([1.0] * 3)


def test_cls_pooling_and_unnormalized_vectors(encoder):
    vector = encoder.embed(TEXTS[1], pooling="cls", normalize=False)
    torch.testing.assert_close(vector, _hidden(encoder, TEXTS[1])[0], atol=1e-5, rtol=0)
    with pytest.raises(NlpfError, match="unknown pooling 'maen'.*mean"):
        encoder.embed("x", pooling="maen")


def test_no_texts_give_no_vectors_of_the_hidden_width(encoder):
    """[0, hidden], so that the result stacks with (and has the width of) any other batch's."""
    empty = encoder.embed([])
    assert empty.shape == (0, encoder.model.backbone.hidden_size) and empty.dtype == torch.float32
    assert torch.cat([empty, encoder.embed(TEXTS[:1])]).shape == (1, encoder.model.backbone.hidden_size)
    assert make(T5).embed([]).shape == (0, 64)  # an encoder-decoder's d_model


def test_a_bare_encoder_points_to_embed_and_a_decoder_cannot_embed(encoder):
    for call in (lambda: encoder.score("x"), lambda: encoder.generate("x"), lambda: encoder.predict(["x"])):
        with pytest.raises(NlpfError, match="bare encoder") as err:
            call()
        assert "embed" in err.value.hint
    with pytest.raises(NlpfError, match="decoder"):
        make(GPT).embed("x")


def test_embed_cli_writes_one_vector_per_line(tmp_path):
    model, tok, cfg = _bare_encoder_parts()
    save_checkpoint(tmp_path / "enc", model, cfg, tok)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "vectors.jsonl"
    assert main(["embed", f"ckpt={tmp_path / 'enc'}", f"input={texts}", f"output={out}", "batch_size=2"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == TEXTS
    assert all(len(r["embedding"]) == cfg.model.hidden_size for r in rows)
    expected = Loaded(model, tok, cfg).embed(TEXTS)
    torch.testing.assert_close(torch.tensor([r["embedding"] for r in rows]), expected, atol=1e-5, rtol=0)
    assert main(["embed", f"ckpt={tmp_path / 'enc'}", f"input={texts}", "pooling=max"]) == 2


def test_an_encoder_decoder_embeds_with_its_encoder():
    t5 = make(T5)
    vectors = t5.embed(TEXTS, batch_size=2)
    ids = torch.tensor([t5.tokenizer.encode(TEXTS[1])])
    with torch.no_grad():
        expected = t5.model.encode(ids).last_hidden_state[0].mean(0)
    torch.testing.assert_close(vectors[1], torch.nn.functional.normalize(expected, dim=-1), atol=1e-5, rtol=0)
