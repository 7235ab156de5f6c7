"""`predict` on a masked LM fills in [MASK]: the same candidates and probabilities as `transformers`' fill-mask."""
from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

import framework  # noqa: E402
from framework.cli import main  # noqa: E402
from framework.errors import NlpfError  # noqa: E402
from framework.hf import import_hf  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "is", "the", "capital", "of", "france", "a", "city",
         "big", "small", "river", "."]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm")
    (root / "hf").mkdir()
    (root / "hf" / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)).eval()
    with torch.no_grad():  # spread the predictions, so the top candidates are not near ties
        for p in hf.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    hf.save_pretrained(root / "hf")
    import_hf(root / "hf", root / "nlpf")
    hf_tok = transformers.BertTokenizerFast(str(root / "hf" / "vocab.txt"))
    return hf, hf_tok, framework.load(root / "nlpf"), root


def test_fill_mask_matches_transformers(models):
    hf, hf_tok, ours, _ = models
    assert ours.task == "mlm"
    texts = ["paris is the [MASK] of france .", "a [MASK] city of the [MASK] ."]
    results = ours.predict(texts, top_k=3)
    for text, result in zip(texts, results):
        enc = hf_tok(text, return_tensors="pt")
        with torch.no_grad():
            probs = hf(**enc).logits[0].softmax(-1)
        positions = (enc["input_ids"][0] == hf_tok.mask_token_id).nonzero().flatten().tolist()
        assert len(result["masks"]) == len(positions)
        for candidates, position in zip(result["masks"], positions):
            top = torch.topk(probs[position], 3)
            assert [c["token_id"] for c in candidates] == top.indices.tolist()
            assert [c["token"] for c in candidates] == [WORDS[i] for i in top.indices.tolist()]
            assert [c["score"] for c in candidates] == pytest.approx(top.values.tolist(), abs=1e-5)
        ids = enc["input_ids"][0].clone()
        ids[positions] = torch.tensor([m[0]["token_id"] for m in result["masks"]])
        assert result["text"] == hf_tok.decode(ids, skip_special_tokens=True)  # what the pipeline's "sequence" holds
    assert len(ours.predict(texts[:1])[0]["masks"][0]) == 5  # the default, as in transformers


def test_fill_mask_without_a_mask_and_on_the_cli(models, tmp_path):
    _, _, ours, root = models
    with pytest.raises(NlpfError, match=r"no \[MASK\] in the text") as err:
        ours.predict(["paris is big"])
    assert "[MASK]" in err.value.hint
    src = tmp_path / "in.txt"
    src.write_text("the [MASK] of france\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", f"ckpt={root / 'nlpf'}", f"input={src}", f"output={out}", "top_k=2"]) == 0
    row = json.loads(out.read_text())
    assert len(row["masks"]) == 1 and len(row["masks"][0]) == 2
