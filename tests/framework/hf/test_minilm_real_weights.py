"""The real all-MiniLM-L6-v2 weights (fetched once from the package index) through `nlpf import hf`."""
import pytest
import torch

import framework
from framework.hf import import_hf
from framework.hf.packaged import MINILM, fetch_checkpoint_dir

transformers = pytest.importorskip("transformers")

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]


def mean_pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@pytest.mark.network
def test_minilm_sentence_embeddings_match_transformers(tmp_path):
    src = fetch_checkpoint_dir(*MINILM)
    import_hf(src, tmp_path / "minilm")
    p = framework.load(tmp_path / "minilm")
    assert p.config.model.num_hidden_layers == 6 and p.config.model.hidden_size == 384

    tok = transformers.AutoTokenizer.from_pretrained(src)
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    ref_model = transformers.AutoModel.from_pretrained(src).eval()
    with torch.no_grad():
        ref = mean_pool(ref_model(**enc).last_hidden_state, enc["attention_mask"])
        out = p.model(enc["input_ids"], attention_mask=enc["attention_mask"],
                      token_type_ids=enc["token_type_ids"])
        ours = mean_pool(out.last_hidden_state, enc["attention_mask"])
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)

    # our own tokenizer (imported with the checkpoint) gives the same ids
    ids = [list(p.tokenizer.encode(s)) for s in SENTENCES]
    assert ids == [row[row_mask.bool()].tolist() for row, row_mask in zip(enc["input_ids"], enc["attention_mask"])]

    emb = torch.nn.functional.normalize(ours, dim=-1)
    similar = float(emb[0] @ emb[1])
    assert similar == pytest.approx(0.75, abs=0.03)
    assert float(emb[0] @ emb[2]) < similar

    # the same vectors through the inference API, with nlpf's own tokenizer
    torch.testing.assert_close(p.embed(SENTENCES), torch.nn.functional.normalize(ref, dim=-1), atol=1e-4, rtol=0)


@pytest.mark.network
def test_the_packaged_minilm_loads_by_name_and_embeds(capsys, monkeypatch):
    import io
    import json
    import sys

    from framework.cli import main

    p = framework.load("hf-packaged:minilm")
    assert p.task == "encoder"
    vectors = p.embed(SENTENCES)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.75, abs=0.03)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((SENTENCES[0] + "\n").encode())))
    assert main(["embed", "ckpt=hf-packaged:minilm", "input=-"]) == 0
    row = json.loads(capsys.readouterr().out)
    torch.testing.assert_close(torch.tensor(row["embedding"]), vectors[0], atol=1e-5, rtol=0)
