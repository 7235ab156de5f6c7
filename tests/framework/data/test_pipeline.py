"""build_datasets: per-task encoding, batches in the formats of docs/internals.md, labels, token cache."""
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from framework.data.pipeline import build_datasets
from framework.errors import NlpfError
from framework.tokenizers import build_tokenizer


@pytest.fixture
def tok():
    return build_tokenizer(OmegaConf.create({"name": "byte"}))


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def data(path, **kw):
    return OmegaConf.create({"name": "jsonl", "path": path, "validation_ratio": 0.25, "test_ratio": 0, **kw})


def test_lm_packs_documents_into_blocks(tmp_path, tok):
    text = tmp_path / "c.txt"
    text.write_text("".join(f"document number {i}\n" for i in range(40)))
    ds = build_datasets(OmegaConf.create({"name": "text", "path": str(text), "test_ratio": 0}), tok, "lm", 16,
                        cache_dir=tmp_path / "cache")
    train = ds["train"]
    stream = np.concatenate([train[i]["input_ids"][train[i]["attention_mask"] == 1] for i in range(len(train))])
    assert (stream == tok.eos_id).sum() == 36  # 36 training documents, each closed by </s>
    batch = train.collate_fn([train[0], train[1]])
    assert batch["input_ids"].shape == (2, 16) and batch["attention_mask"].dtype == torch.long
    last = train[len(train) - 1]
    assert last["attention_mask"].sum() <= 16 and (last["input_ids"][last["attention_mask"] == 0] == tok.pad_id).all()


def test_classification_batches_and_labels(tmp_path, tok):
    rows = [{"body": f"item {i} " * (1 + i % 5), "y": ["neg", "pos"][i % 2]} for i in range(40)]
    ds = build_datasets(data(jsonl(tmp_path / "d.jsonl", rows), text_field="body", label_field="y"), tok,
                        "classification", 12, cache_dir=tmp_path / "cache")
    train = ds["train"]
    assert train.label_names == ["neg", "pos"] and len(train) == 30 and len(ds["validation"]) == 10
    items = [train[i] for i in range(4)]
    batch = train.collate_fn(items)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert batch["input_ids"].shape[1] == max(len(it["input_ids"]) for it in items) <= 12  # dynamic padding
    assert batch["labels"].tolist() == [it["labels"] for it in items]
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tok.pad_id).all()
    assert train.split_record["splits"]["validation"]["count"] == 10


def test_unseen_validation_label_is_named(tmp_path, tok):
    train = jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
    dev = jsonl(tmp_path / "v.jsonl", [{"text": "c", "label": "z"}])
    with pytest.raises(NlpfError, match="validation split .* has label\\(s\\) 'z' that the training split never has"):
        build_datasets(data(train, validation_path=dev), tok, "classification", 8, cache_dir=tmp_path / "c")


def test_labels_not_among_a_checkpoints_are_named_with_a_label_map_hint(tmp_path, tok):
    """`nlpf evaluate` of a sentiment model on spam data: the labels come from the checkpoint, not the split."""
    path = jsonl(tmp_path / "t.jsonl", [{"text": f"m{i}", "label": ["ham", "spam"][i % 2]} for i in range(10)])
    with pytest.raises(NlpfError, match="has label\\(s\\) 'ham', 'spam' that are not among the labels given "
                                        "\\(labels=, or the checkpoint's\\): negative, positive") as err:
        build_datasets(data(path), tok, "classification", 8, labels=["negative", "positive"], cache_dir=tmp_path / "c")
    assert "data.label_map={ham:negative,spam:positive,...}" in err.value.hint and "split_seed" not in err.value.hint


def test_max_examples_leaves_out_eval_examples_whose_labels_the_sample_lacks(tmp_path, tok, capsys):
    """A quick run (data.max_examples) samples each split on its own: a rare tag in the validation sample that
    the training sample lacks is left out with a note, where the full data would be refused."""
    rows = [{"tokens": ["a", "b"], "tags": ["O", "B-x"]} for _ in range(30)]
    dev = [{"tokens": ["a", "b"], "tags": ["O", "B-x"]} for _ in range(6)] + [{"tokens": ["c"], "tags": ["B-rare"]}]
    cfg = data(jsonl(tmp_path / "t.jsonl", rows), validation_path=jsonl(tmp_path / "v.jsonl", dev), text_field=None,
               label_field=None, columns={"tokens": "tokens", "tags": "tags"})
    with pytest.raises(NlpfError, match="'B-rare' that the training split never has"):
        build_datasets(cfg, tok, "token_classification", 16, cache_dir=tmp_path / "c")
    cfg.max_examples = 20
    ds = build_datasets(cfg, tok, "token_classification", 16, cache_dir=tmp_path / "c2")
    assert len(ds["validation"]) == 6 and ds["train"].label_names == ["O", "B-x"]
    assert "left out 1 validation example(s) with labels the sampled training split lacks" in capsys.readouterr().err
    assert ds["validation"].split_record["splits"]["validation"]["dropped_unseen_labels"] == 1


def test_task_needs_fields(tmp_path, tok):
    path = jsonl(tmp_path / "t.jsonl", [{"text": f"a{i}"} for i in range(8)])
    with pytest.raises(NlpfError, match="task 'seq2seq' needs example keys source, target"):
        build_datasets(data(path, label_field=None), tok, "seq2seq", 8, cache_dir=tmp_path / "c")
    with pytest.raises(NlpfError, match="unknown task 'clasification'.*Did you mean 'classification'"):
        build_datasets(data(path), tok, "clasification", 8)


def test_token_classification_labels_first_sub_token(tmp_path, tok):
    rows = [{"tokens": ["New", "York", "is", "big"], "tags": ["B-loc", "I-loc", "O", "O"]}] * 4
    ds = build_datasets(data(jsonl(tmp_path / "n.jsonl", rows), text_field=None, label_field=None,
                             columns={"tokens": "tokens", "tags": "tags"}), tok, "token_classification", 64,
                        cache_dir=tmp_path / "c")
    train = ds["train"]
    assert train.label_names == ["O", "B-loc", "I-loc"]
    labels = train[0]["labels"].tolist()
    # [CLS] N e w | ␠ Y o r k | ␠ i s | ␠ b i g [SEP]
    assert labels == [-100, 1, -100, -100, 2, -100, -100, -100, -100, 0, -100, -100, 0, -100, -100, -100, -100]
    batch = train.collate_fn([train[0], train[1]])
    assert batch["labels"].shape == batch["input_ids"].shape


def test_seq2seq_and_qa(tmp_path, tok):
    pairs = [{"en": "hello", "fr": "bonjour"}] * 4
    ds = build_datasets(data(jsonl(tmp_path / "p.jsonl", pairs), text_field=None, label_field=None,
                             columns={"source": "en", "target": "fr"}), tok, "seq2seq", 6, cache_dir=tmp_path / "c")
    item = ds["train"][0]
    assert tok.decode(item["input_ids"]) == "hello" and item["input_ids"][-1] == tok.eos_id
    assert len(item["labels"]) == 6 and tok.decode(item["labels"]) == "bonjo"  # truncated, </s> kept
    batch = ds["train"].collate_fn([item, item])
    assert batch["labels"].shape == (2, 6)

    context = "The tower was built in 1889 by Gustave Eiffel."
    rows = [{"q": "When?", "c": context, "s": context.index("1889"), "a": "1889"}] * 4
    ds = build_datasets(data(jsonl(tmp_path / "q.jsonl", rows), text_field=None, label_field=None,
                             columns={"question": "q", "context": "c", "answer_start": "s", "answer_text": "a"}),
                        tok, "qa", 64, cache_dir=tmp_path / "c")
    it = ds["train"][0]
    span = it["input_ids"][it["start_positions"]: it["end_positions"] + 1]
    assert tok.decode(span) == "1889"
    short = build_datasets(data(jsonl(tmp_path / "q.jsonl", rows), text_field=None, label_field=None,
                                columns={"question": "q", "context": "c", "answer_start": "s", "answer_text": "a"}),
                           tok, "qa", 20, cache_dir=tmp_path / "c")["train"][0]
    assert (short["start_positions"], short["end_positions"]) == (0, 0)  # the answer was truncated away
    batch = ds["train"].collate_fn([it, it])
    assert batch["start_positions"].tolist() == [it["start_positions"]] * 2 and "token_type_ids" in batch


def test_second_build_reuses_the_token_cache(tmp_path, tok, monkeypatch):
    rows = [{"text": f"example {i}", "label": str(i % 3)} for i in range(30)]
    cfg = data(jsonl(tmp_path / "d.jsonl", rows))
    first = build_datasets(cfg, tok, "classification", 16, cache_dir=tmp_path / "cache")

    def refuse(*a, **k):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(type(tok), "encode_batch", refuse)
    second = build_datasets(cfg, tok, "classification", 16, cache_dir=tmp_path / "cache")
    assert isinstance(second["train"].arrays["ids"], np.memmap)
    assert [second["train"][i]["input_ids"].tolist() for i in range(5)] == \
        [first["train"][i]["input_ids"].tolist() for i in range(5)]
    with pytest.raises(AssertionError, match="tokenized again"):  # other settings, another cache entry
        build_datasets(cfg, tok, "classification", 17, cache_dir=tmp_path / "cache")


def test_numeric_labels_keep_numeric_order(tmp_path, tok):
    rows = [{"text": f"t{i}", "label": [1, 2, 10][i % 3]} for i in range(30)]
    ds = build_datasets(data(jsonl(tmp_path / "n.jsonl", rows)), tok, "classification", 8, cache_dir=tmp_path / "c")
    assert ds["train"].label_names == ["1", "2", "10"]


def test_multilabel_batches_carry_multi_hot_float_labels(tmp_path, tok):
    names = [["sports"], ["politics", "sports"], [], ["tech", "politics"]]
    rows = [{"text": f"item {i}", "tags": names[i % 4]} for i in range(40)]
    ds = build_datasets(data(jsonl(tmp_path / "m.jsonl", rows), label_field="tags"), tok, "multilabel", 12,
                        cache_dir=tmp_path / "cache")
    train = ds["train"]
    assert train.label_names == ["politics", "sports", "tech"]  # from the training split, sorted
    items = [train[i] for i in range(4)]
    batch = train.collate_fn(items)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (4, 3)
    hot = {(): [0, 0, 0], ("sports",): [0, 1, 0], ("politics", "sports"): [1, 1, 0], ("politics", "tech"): [1, 0, 1]}
    texts = {f"item {i}": tuple(sorted(names[i % 4])) for i in range(40)}
    for row, item in zip(batch["labels"].tolist(), items):
        assert row == hot[texts[tok.decode(item["input_ids"].tolist())]]
    fixed = build_datasets(data(jsonl(tmp_path / "m.jsonl", rows), label_field="tags"), tok, "multilabel", 12,
                           cache_dir=tmp_path / "cache", labels=["tech", "sports", "politics", "other"])
    assert fixed["train"].label_names == ["tech", "sports", "politics", "other"]  # a given order is kept
    assert fixed["train"][0]["labels"].shape == (4,)


def test_multilabel_unknown_names_and_single_values_are_named(tmp_path, tok):
    train = jsonl(tmp_path / "t.jsonl", [{"text": "a goal", "label": ["sports"]}, {"text": "b", "label": ["politics"]}])
    dev = jsonl(tmp_path / "v.jsonl", [{"text": "c", "label": []}, {"text": "a vote", "label": ["politic"]}])
    with pytest.raises(NlpfError, match="validation split .*: example 2 \\('a vote'\\) has label 'politic', which is not "
                       "among the labels of the training split. Did you mean 'politics'"):
        build_datasets(data(train, validation_path=dev), tok, "multilabel", 8, cache_dir=tmp_path / "c")
    with pytest.raises(NlpfError, match="train split .*: example 1 \\('a goal'\\) has label 'sports', which is not "
                       "among the labels given .* Did you mean 'sport'"):
        build_datasets(data(train, validation_path=train), tok, "multilabel", 8, cache_dir=tmp_path / "c",
                       labels=["sport", "politics"])
    single = jsonl(tmp_path / "s.jsonl", [{"text": "x", "label": "sports|tech"}, {"text": "y", "label": "tech"}])
    with pytest.raises(NlpfError, match="example 1 \\('x'\\) has label 'sports\\|tech', one value") as err:
        build_datasets(data(single, validation_ratio=0), tok, "multilabel", 8, cache_dir=tmp_path / "c")
    assert "data.label_separator" in err.value.hint
    assert build_datasets(data(single, validation_ratio=0, label_separator="|"), tok, "multilabel", 8,
                          cache_dir=tmp_path / "c")["train"].label_names == ["sports", "tech"]
    with pytest.raises(NlpfError, match="has a list of labels \\['sports'\\], where classification needs one") as err:
        build_datasets(data(train, validation_ratio=0), tok, "classification", 8, cache_dir=tmp_path / "c")
    assert "objective=multi_label_classification" in err.value.hint
    empty = jsonl(tmp_path / "e.jsonl", [{"text": f"x{i}", "label": []} for i in range(4)])
    with pytest.raises(NlpfError, match="no example of the training split .* has a label"):
        build_datasets(data(empty, validation_ratio=0), tok, "multilabel", 8, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("task, label, message", [
    ("classification", None, "n.jsonl:2: 'label' \\(data.label_field\\) is null"),
    ("multilabel", ["sports", None], "n.jsonl:2: 'label' \\(data.label_field\\) holds a null label name"),
])
def test_a_null_label_is_named_not_read_as_the_label_none(tmp_path, tok, task, label, message):
    good = ["sports"] if task == "multilabel" else "sports"
    rows = jsonl(tmp_path / "n.jsonl", [{"text": "a", "label": good}, {"text": "b", "label": label}])
    with pytest.raises(NlpfError, match=message):
        build_datasets(data(rows, validation_ratio=0), tok, task, 8, cache_dir=tmp_path / "c")
