"""`nlpf import hf` / `nlpf export hf`: round trips, loading by transformers, tokenizers, and clear errors."""
import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import framework
from framework import cli
from framework.checkpoint import load_checkpoint
from framework.errors import NlpfError
from framework.hf import export_hf, import_hf

transformers = pytest.importorskip("transformers")


def gpt2(tmp_path, name="hf", **kw):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2, bos_token_id=0,
                                  eos_token_id=0, **kw)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(tmp_path / name)
    return model


def bert_mlm(tmp_path, name="hf", **kw):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16, **kw)
    model = transformers.BertForMaskedLM(cfg).eval()
    model.save_pretrained(tmp_path / name)
    return model


def t5(tmp_path, name="hf", **kw):
    torch.manual_seed(0)
    cfg = transformers.T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=24, num_layers=1, num_heads=4, **kw)
    model = transformers.T5ForConditionalGeneration(cfg).eval()
    if kw.get("tie_word_embeddings") is False:
        model.lm_head.weight = torch.nn.Parameter(torch.randn(64, 16))
    model.save_pretrained(tmp_path / name)
    return model


IDS = torch.tensor([[5, 9, 3, 7, 1, 2], [4, 4, 8, 0, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
FAMILIES = {
    "gpt2": (gpt2, transformers.GPT2LMHeadModel, {}),
    "bert": (bert_mlm, transformers.BertForMaskedLM, {}),
    "t5": (t5, transformers.T5ForConditionalGeneration, {"decoder_input_ids": IDS[:, :4]}),
    "t5-v1_1": (lambda p: t5(p, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
                transformers.T5ForConditionalGeneration, {"decoder_input_ids": IDS[:, :4]}),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_export_round_trip_and_transformers_loads_it(tmp_path, family):
    make, cls, extra = FAMILIES[family]
    make(tmp_path)
    import_hf(tmp_path / "hf", tmp_path / "ours")
    export_hf(tmp_path / "ours", tmp_path / "exported")
    import_hf(tmp_path / "exported", tmp_path / "again")
    first, _ = load_checkpoint(tmp_path / "ours")
    second, _ = load_checkpoint(tmp_path / "again")
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    reloaded = cls.from_pretrained(tmp_path / "exported").eval()
    with torch.no_grad():
        ref = reloaded(input_ids=IDS, attention_mask=MASK, **extra).logits
        ours = first.eval()(IDS, attention_mask=MASK, **extra).logits
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-5)


def test_checkpoint_layout_and_tied_weights_saved_once(tmp_path):
    gpt2(tmp_path)
    import_hf(tmp_path / "hf", tmp_path / "ours")
    assert {p.name for p in (tmp_path / "ours").iterdir()} == {"model.safetensors", "config.yaml", "meta.json"}
    weights = load_file(tmp_path / "ours" / "model.safetensors")
    assert "backbone.embeddings.word.weight" in weights and "head.proj.weight" not in weights
    meta = json.loads((tmp_path / "ours" / "meta.json").read_text())
    assert meta["source"]["architecture"] == "GPT2LMHeadModel"
    assert {"nlpf_version", "plugins", "created"} <= set(meta)
    assert any(p["name"] == "gpt" for p in meta["plugins"])


def test_pytorch_model_bin_is_read_with_weights_only(tmp_path):
    model = gpt2(tmp_path, name="st")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "config.json").write_text((tmp_path / "st" / "config.json").read_text())
    torch.save(model.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    import_hf(tmp_path / "bin", tmp_path / "ours")
    with torch.no_grad():
        out = framework.load(tmp_path / "ours").model(IDS, attention_mask=MASK).logits
        torch.testing.assert_close(out, model(input_ids=IDS, attention_mask=MASK).logits, atol=1e-4, rtol=0)
    # a pickle that is more than tensors is refused, not executed
    torch.save({"x": torch.ones(1), "evil": print}, tmp_path / "bin" / "pytorch_model.bin")
    with pytest.raises(NlpfError, match="weights_only"):
        import_hf(tmp_path / "bin", tmp_path / "other")


def edit_config(directory, **changes):
    path = directory / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update(changes)
    path.write_text(json.dumps(cfg))


@pytest.mark.parametrize("make,field,value", [
    (gpt2, "reorder_and_upcast_attn", True),
    (gpt2, "add_cross_attention", True),
    (gpt2, "activation_function", "gelu_13"),
    (bert_mlm, "position_embedding_type", "relative_key"),
    (bert_mlm, "is_decoder", True),
    (bert_mlm, "hidden_act", "laplace"),
    (t5, "feed_forward_proj", "gated-laplace"),
])
def test_unsupported_config_value_is_a_clear_error(tmp_path, make, field, value):
    make(tmp_path)
    edit_config(tmp_path / "hf", **{field: value})
    with pytest.raises(NlpfError) as err:
        import_hf(tmp_path / "hf", tmp_path / "ours")
    assert field in err.value.message and repr(value) in err.value.message
    assert "supported" in err.value.hint
    assert not (tmp_path / "ours").exists()


def test_unknown_model_type_and_architecture(tmp_path):
    gpt2(tmp_path)
    edit_config(tmp_path / "hf", model_type="gpt_neo")
    with pytest.raises(NlpfError, match="model_type 'gpt_neo'"):
        import_hf(tmp_path / "hf", tmp_path / "ours")
    edit_config(tmp_path / "hf", model_type="gpt2", architectures=["GPT2DoubleHeadsModel"])
    with pytest.raises(NlpfError, match="GPT2DoubleHeadsModel"):
        import_hf(tmp_path / "hf", tmp_path / "ours")


def test_weights_that_do_not_match_config_json(tmp_path):
    gpt2(tmp_path)
    edit_config(tmp_path / "hf", n_layer=3)
    with pytest.raises(NlpfError, match="h.2.ln_1.weight"):
        import_hf(tmp_path / "hf", tmp_path / "ours")
    edit_config(tmp_path / "hf", n_layer=1)
    with pytest.raises(NlpfError, match="would not use: transformer.h.1"):
        import_hf(tmp_path / "hf", tmp_path / "ours")


def test_tokenizer_files_are_imported_and_exported(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    bert_mlm(tmp_path)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "man", "eats", "food"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "hf" / "tokenizer.json"))
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(vocab) + "\n")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    assert (tmp_path / "ours" / "tokenizer" / "tokenizer.yaml").is_file()
    assert (tmp_path / "ours" / "tokenizer" / "vocab.txt").is_file()
    p = framework.load(tmp_path / "ours")
    assert p.config.tokenizer.name == "hf"
    assert p.tokenizer is not None and p.tokenizer.vocab_size == len(vocab)
    export_hf(tmp_path / "ours", tmp_path / "exported")
    assert (tmp_path / "exported" / "tokenizer.json").is_file()
    assert not (tmp_path / "exported" / "tokenizer.yaml").exists()


def test_cli_import_and_export(tmp_path, capsys):
    t5(tmp_path)
    assert cli.main(["import", "hf", str(tmp_path / "hf"), str(tmp_path / "ours")]) == 0
    assert cli.main(["export", "hf", str(tmp_path / "ours"), str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "config.json").is_file()
    # a run directory works as for evaluate and predict: its best checkpoint
    shutil.copytree(tmp_path / "ours", tmp_path / "run" / "checkpoints" / "best")
    assert cli.main(["export", "hf", str(tmp_path / "run"), str(tmp_path / "from_run")]) == 0
    assert (tmp_path / "from_run" / "model.safetensors").read_bytes() == \
        (tmp_path / "exported" / "model.safetensors").read_bytes()
    assert cli.main(["import", "hf", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"'{tmp_path / 'nothing'}' does not exist" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["import", "hf", str(tmp_path / "empty"), str(tmp_path / "x")]) == 2
    assert "no config.json" in capsys.readouterr().err
    assert cli.main(["import", "onnx", "a", "b"]) == 2
    assert "usage: nlpf import hf" in capsys.readouterr().err


def test_cli_subprocess_reports_unsupported_field(tmp_path):
    bert_mlm(tmp_path)
    edit_config(tmp_path / "hf", position_embedding_type="relative_key_query")
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "import", "hf", str(tmp_path / "hf"),
                           str(tmp_path / "ours")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "position_embedding_type" in proc.stderr and "absolute" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_refuses_heads_without_a_transformers_counterpart(tmp_path):
    gpt2(tmp_path)
    import_hf(tmp_path / "hf", tmp_path / "ours")
    cfg = (tmp_path / "ours" / "config.yaml").read_text().replace("bias: false", "bias: true")
    (tmp_path / "ours" / "config.yaml").write_text(cfg)
    weights = load_file(tmp_path / "ours" / "model.safetensors")
    weights["head.bias"] = torch.zeros(64)
    save_file(weights, tmp_path / "ours" / "model.safetensors")
    with pytest.raises(NlpfError, match="plain `lm` head"):
        export_hf(tmp_path / "ours", tmp_path / "exported")


def test_pretraining_checkpoint_imports_as_masked_lm(tmp_path):
    # bert-base-uncased and friends: architectures BertForMaskedLM, weights with the NSP head and pooler too
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16)
    model = transformers.BertForPreTraining(cfg).eval()
    model.save_pretrained(tmp_path / "hf")
    edit_config(tmp_path / "hf", architectures=["BertForMaskedLM"])
    import_hf(tmp_path / "hf", tmp_path / "ours")
    with torch.no_grad():
        ref = model(input_ids=IDS, attention_mask=MASK).prediction_logits
        out = framework.load(tmp_path / "ours").model(IDS, attention_mask=MASK).logits
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)
    edit_config(tmp_path / "hf", architectures=["BertForPreTraining"])
    with pytest.raises(NlpfError, match="BertForPreTraining"):
        import_hf(tmp_path / "hf", tmp_path / "other")


def test_gpt2_vocab_and_merges_become_a_tokenizer(tmp_path):
    gpt2(tmp_path)
    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "Ġ": 5, "Ġab": 6, "<|endoftext|>": 7}
    (tmp_path / "hf" / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "hf" / "merges.txt").write_text("#version: 0.2\na b\nab c\nĠ ab\n")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    p = framework.load(tmp_path / "ours")
    assert list(p.tokenizer.encode("abc ab")) == [4, 6]
    assert list(p.tokenizer.encode("ab<|endoftext|>c")) == [3, 7, 2]  # the end token is one token


def test_a_multi_label_classifier_imports_with_its_labels_and_exports_back(tmp_path):
    torch.manual_seed(0)
    labels = ["sports", "politics", "tech"]
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16, id2label=dict(enumerate(labels)),
                                  label2id={v: i for i, v in enumerate(labels)}, problem_type="multi_label_classification")
    transformers.BertForSequenceClassification(cfg).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    ours = framework.load(tmp_path / "ours")
    assert ours.task == "multilabel" and ours.labels == labels
    assert ours.config.objective.name == "multi_label_classification"
    export_hf(tmp_path / "ours", tmp_path / "exported")
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "exported").eval()
    assert reloaded.config.problem_type == "multi_label_classification"
    assert [reloaded.config.id2label[i] for i in range(3)] == labels
    with torch.no_grad():
        logits = reloaded(input_ids=IDS, attention_mask=MASK).logits
        torch.testing.assert_close(ours.model(IDS, attention_mask=MASK).logits, logits, atol=1e-4, rtol=0)
    import_hf(tmp_path / "exported", tmp_path / "again")
    assert framework.load(tmp_path / "again").task == "multilabel"


def test_a_multi_label_model_built_in_nlpf_exports_for_auto_model_for_sequence_classification(tmp_path):
    """problem_type and the labels are written: transformers' loss is then BCE over the multi-hot target."""
    from framework.checkpoint import save_checkpoint
    from framework.config import load
    from framework.model import build_model
    from framework.tokenizers import build_tokenizer
    from plugins.objectives.multi_label import MultiLabelClassification

    cfg = load(["model=bert_tiny", "head=sequence_classification", "head.pooler=true",
                "objective=multi_label_classification", "tokenizer=byte"], components=("model", "head", "objective"))
    tok = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size, cfg.labels = tok.vocab_size, ["a", "b", "c", "d"]
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    save_checkpoint(tmp_path / "ours", model, cfg, tok)
    export_hf(tmp_path / "ours", tmp_path / "exported")
    config = json.loads((tmp_path / "exported" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {"0": "a", "1": "b", "2": "c", "3": "d"} and config["label2id"]["d"] == 3
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "exported").eval()
    target = torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0]])
    with torch.no_grad():
        ref = reloaded(input_ids=IDS, attention_mask=MASK, labels=target)
        out = model(IDS, attention_mask=MASK)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=0)
    ours = MultiLabelClassification().loss(out, {"labels": target})
    torch.testing.assert_close(ours, ref.loss, atol=1e-5, rtol=0)


def test_export_never_overwrites_foreign_files(tmp_path):
    gpt2(tmp_path)
    import_hf(tmp_path / "hf", tmp_path / "ours")
    (tmp_path / "hf" / "README.md").write_text("model card")
    with pytest.raises(NlpfError, match="README.md"):
        export_hf(tmp_path / "ours", tmp_path / "hf")
    assert (tmp_path / "hf" / "README.md").is_file()
    export_hf(tmp_path / "ours", tmp_path / "exported")
    export_hf(tmp_path / "ours", tmp_path / "exported")  # replacing an earlier export is fine


def test_t5_spiece_model_becomes_a_sentencepiece_tokenizer(tmp_path):
    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the quick brown fox jumps over the lazy dog {i}" for i in range(200)))
    t5(tmp_path)
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "hf" / "spiece"), vocab_size=40,
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    (tmp_path / "hf" / "spiece.vocab").unlink()
    import_hf(tmp_path / "hf", tmp_path / "ours")
    p = framework.load(tmp_path / "ours")
    assert p.config.tokenizer.name == "sentencepiece"
    reference = spm.SentencePieceProcessor(model_file=str(tmp_path / "hf" / "spiece.model"))
    assert list(p.tokenizer.encode("the lazy dog")) == reference.encode("the lazy dog") + [1]  # T5 appends </s>


@pytest.mark.parametrize("arch", ["BertModel", "BertForSequenceClassification", "BertForTokenClassification",
                                  "BertForQuestionAnswering"])
def test_bert_task_heads_export(tmp_path, arch):
    torch.manual_seed(0)
    labels = {"BertForSequenceClassification": ["neg", "pos", "mixed"], "BertForTokenClassification": ["O", "B", "I"]}
    extra = {"id2label": dict(enumerate(labels[arch])), "label2id": {v: i for i, v in enumerate(labels[arch])}} \
        if arch in labels else {}
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16, **extra)
    getattr(transformers, arch)(cfg).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    export_hf(tmp_path / "ours", tmp_path / "exported")
    reloaded = getattr(transformers, arch).from_pretrained(tmp_path / "exported").eval()
    if arch in labels:
        assert [reloaded.config.id2label[i] for i in range(3)] == labels[arch]
    ours = framework.load(tmp_path / "ours").model
    with torch.no_grad():
        ref = reloaded(input_ids=IDS, attention_mask=MASK)
        out = ours(IDS, attention_mask=MASK)
    if arch == "BertModel":
        torch.testing.assert_close(out.last_hidden_state, ref.last_hidden_state, atol=1e-4, rtol=0)
    elif arch == "BertForQuestionAnswering":
        keep = MASK.bool()
        torch.testing.assert_close(out.logits[..., 0][keep], ref.start_logits[keep], atol=1e-4, rtol=0)
        torch.testing.assert_close(out.logits[..., 1][keep], ref.end_logits[keep], atol=1e-4, rtol=0)
    else:
        torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=0)


def test_a_regression_classifier_imports_as_regression_and_exports_back(tmp_path):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=16, num_labels=1,
                                  problem_type="regression")
    transformers.BertForSequenceClassification(cfg).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "ours")
    ours = framework.load(tmp_path / "ours")
    assert ours.task == "regression" and ours.labels is None
    export_hf(tmp_path / "ours", tmp_path / "exported")
    reloaded = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "exported").eval()
    assert reloaded.config.problem_type == "regression" and reloaded.config.num_labels == 1
    with torch.no_grad():
        torch.testing.assert_close(ours.model(IDS, attention_mask=MASK).logits,
                                   reloaded(input_ids=IDS, attention_mask=MASK).logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("preset, head, cls", [("t5_tiny", "t5_lm", "T5ForConditionalGeneration"),
                                               ("gpt_tiny", "lm", "GPT2LMHeadModel")])
def test_a_model_built_in_nlpf_exports_with_its_token_ids(tmp_path, preset, head, cls):
    """Presets leave T5's num_decoder_layers null; the export writes it, and the tokenizer's special ids."""
    from framework.checkpoint import save_checkpoint
    from framework.config import load
    from framework.model import build_model
    from framework.tokenizers import build_tokenizer

    objective = "seq2seq" if preset.startswith("t5") else "causal_lm"
    cfg = load([f"model={preset}", f"head={head}", f"objective={objective}", "tokenizer=byte"], components=("model", "head"))
    tok = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size = tok.vocab_size
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    save_checkpoint(tmp_path / "ours", model, cfg, tok)
    export_hf(tmp_path / "ours", tmp_path / "exported")
    reloaded = getattr(transformers, cls).from_pretrained(tmp_path / "exported").eval()
    assert reloaded.config.eos_token_id == tok.eos_id and reloaded.config.pad_token_id == tok.pad_id
    extra = {"decoder_input_ids": IDS[:, :3]} if preset.startswith("t5") else {}
    with torch.no_grad():
        torch.testing.assert_close(model(IDS, attention_mask=MASK, **extra).logits,
                                   reloaded(input_ids=IDS, attention_mask=MASK, **extra).logits, atol=1e-4, rtol=1e-5)


def test_an_nlpf_sentencepiece_tokenizer_exports_as_spiece_model(tmp_path):
    from framework import cli
    from framework.tokenizers import load_tokenizer

    assert cli.main(["tokenizer", "train", "tokenizer=sentencepiece_unigram", "data=tiny_corpus",
                     f"out={tmp_path / 'tok'}", "tokenizer.vocab_size=300"]) == 0
    tok = load_tokenizer(tmp_path / "tok")
    from framework.checkpoint import save_checkpoint
    from framework.config import load
    from framework.model import build_model

    cfg = load(["model=t5_tiny", "head=t5_lm", "objective=seq2seq"], components=("model", "head"))
    cfg.model.vocab_size = tok.vocab_size
    save_checkpoint(tmp_path / "ours", build_model(cfg), cfg, tmp_path / "tok")
    export_hf(tmp_path / "ours", tmp_path / "exported")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "exported")
    text = "the history of the world"
    assert hf_tok(text)["input_ids"] == tok.encode_batch([text])[0].ids


def test_a_sentence_transformers_model_keeps_its_max_seq_length(tmp_path):
    bert_mlm(tmp_path)
    (tmp_path / "hf" / "sentence_bert_config.json").write_text('{"max_seq_length": 8, "do_lower_case": false}')
    import_hf(tmp_path / "hf", tmp_path / "ours")
    assert framework.load(tmp_path / "ours").max_length == 8  # what sentence-transformers truncates at


def test_an_export_without_a_transformers_tokenizer_says_so(tmp_path, capsys):
    from framework.checkpoint import save_checkpoint
    from framework.config import load
    from framework.model import build_model
    from framework.tokenizers import build_tokenizer

    cfg = load(["model=gpt_tiny", "tokenizer=byte"], components=("model", "head"))
    tok = build_tokenizer(cfg.tokenizer)
    cfg.model.vocab_size = tok.vocab_size
    save_checkpoint(tmp_path / "ours", build_model(cfg), cfg, tok)
    export_hf(tmp_path / "ours", tmp_path / "exported")
    assert "tokenizer ('byte') has no transformers counterpart" in capsys.readouterr().err
