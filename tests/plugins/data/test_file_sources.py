"""Users' own files: text, JSONL, CSV/TSV, field and label mapping, and the errors bad input gets."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from framework.data.pipeline import build_source
from framework.data.source import derive_splits
from framework.errors import NlpfError


def source(**node):
    return build_source(OmegaConf.create(node))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_with_other_field_names(tmp_path):
    rows = [{"review": f"text {i}", "stars": "good" if i % 2 else "bad"} for i in range(20)]
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    splits = source(name="jsonl", path=str(path), text_field="review", label_field="stars").splits()
    assert {k: len(v) for k, v in splits.items()} == {"train": 16, "validation": 2, "test": 2}
    every = sorted(ex["text"] for v in splits.values() for ex in v)
    assert every == sorted(r["review"] for r in rows)
    assert {ex["label"] for ex in splits["train"]} == {"good", "bad"}


def test_max_examples_samples_the_whole_split(tmp_path):
    # a file sorted by label: the first 10 lines are all 'bad'
    rows = [{"text": f"t{i}", "label": "bad" if i < 50 else "good"} for i in range(100)]
    path = write_jsonl(tmp_path / "sorted.jsonl", rows)
    node = dict(name="jsonl", path=str(path), validation_path=str(path), validation_ratio=0, test_ratio=0,
                max_examples=10)
    train = source(**node).splits()["train"]
    assert len(train) == 10 and {ex["label"] for ex in train} == {"bad", "good"}
    order = [int(ex["text"][1:]) for ex in train]
    assert order == sorted(order)  # file order kept
    assert train == source(**node).splits()["train"]  # seeded


def test_wrong_field_name_suggests_the_column(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"review": "x", "label": 1}])
    with pytest.raises(NlpfError, match="data.text_field='reviw'.*Did you mean 'review'") as err:
        source(name="jsonl", path=str(path), text_field="reviw", validation_ratio=0, test_ratio=0).splits()
    assert "columns in this file: review, label" in err.value.hint


def test_csv_tsv_label_map_and_explicit_splits(tmp_path):
    (tmp_path / "train.tsv").write_text("body\tverdict\nfine day\t1\nbuy now\t0\nhello\t1\n")
    (tmp_path / "dev.tsv").write_text("body\tverdict\nwin cash\t0\n")
    splits = source(name="csv", path=str(tmp_path / "train.tsv"), validation_path=str(tmp_path / "dev.tsv"),
                    text_field="body", label_field="verdict", label_map={"1": "ham", "0": "spam"}).splits()
    assert splits["train"][1] == {"text": "buy now", "label": "spam"}
    assert splits["validation"] == [{"text": "win cash", "label": "spam"}]
    (tmp_path / "bad.csv").write_text("text,label\nx,2\n")
    with pytest.raises(NlpfError, match="label '2' is not in data.label_map"):
        source(name="csv", path=str(tmp_path / "bad.csv"), label_map={"1": "a", "0": "b"},
               validation_ratio=0, test_ratio=0).splits()


def test_csv_quoting_pairs_and_columns(tmp_path):
    (tmp_path / "p.csv").write_text('premise,hypothesis,gold\n"a, b",c,yes\nd,"e ""f""",no\n')
    ex = source(name="csv", path=str(tmp_path / "p.csv"), text_field="premise", text_pair_field="hypothesis",
                label_field="gold", validation_ratio=0, test_ratio=0).splits()["train"]
    assert ex == [{"text": "a, b", "text_pair": "c", "label": "yes"}, {"text": "d", "text_pair": 'e "f"', "label": "no"}]
    (tmp_path / "t.csv").write_text("words,labels\nNew York,B-loc I-loc\n")
    ex = source(name="csv", path=str(tmp_path / "t.csv"), text_field=None, label_field=None,
                columns={"tokens": "words", "tags": "labels"}, validation_ratio=0, test_ratio=0).splits()["train"]
    assert ex == [{"tokens": ["New", "York"], "tags": ["B-loc", "I-loc"]}]


def test_text_directories_globs_and_units(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n\nthree\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("four\n")
    lines = source(name="text", path=str(tmp_path), validation_ratio=0, test_ratio=0).splits()["train"]
    assert [e["text"] for e in lines] == ["one", "two", "three", "four"]
    paras = source(name="text", path=str(tmp_path / "*.txt"), unit="paragraph", validation_ratio=0,
                   test_ratio=0).splits()["train"]
    assert [e["text"] for e in paras] == ["one two", "three"]
    (tmp_path / "code.txt").write_text("\ndef f():\n    return 1\n\n\nprint(f())  \n\n")
    whole = source(name="text", path=str(tmp_path / "code.txt"), unit="file", validation_ratio=0,
                   test_ratio=0).splits()["train"]
    assert [e["text"] for e in whole] == ["def f():\n    return 1\n\n\nprint(f())"]  # as written


def test_missing_file_suggests_a_close_name(tmp_path):
    (tmp_path / "train.txt").write_text("x\n")
    with pytest.raises(NlpfError, match="'.*trian.txt' does not exist.*Did you mean 'train.txt'"):
        source(name="text", path=str(tmp_path / "trian.txt")).splits()
    with pytest.raises(NlpfError, match="matches no files"):
        source(name="text", path=str(tmp_path / "*.csv")).splits()
    with pytest.raises(NlpfError, match="data.path is not set"):
        source(name="text").splits()


def test_non_utf8_names_file_and_line_and_can_be_replaced(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(NlpfError, match=r"latin1.txt:2: not valid UTF-8 \(byte 0xe9") as err:
        source(name="text", path=str(path), validation_ratio=0, test_ratio=0).splits()
    assert "encoding_errors=replace" in err.value.hint
    ok = source(name="text", path=str(path), encoding_errors="replace", validation_ratio=0, test_ratio=0).splits()
    assert ok["train"][1]["text"] == "caf\ufffd au lait"


def test_empty_data_and_empty_splits(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(NlpfError, match="empty"):
        source(name="text", path=str(tmp_path / "empty.txt")).splits()
    (tmp_path / "two.txt").write_text("a\nb\n")
    with pytest.raises(NlpfError, match="too few"):
        source(name="text", path=str(tmp_path / "two.txt"), validation_ratio=0.1, test_ratio=0.1).splits()


def test_split_is_seeded_and_recorded(tmp_path):
    (tmp_path / "c.txt").write_text("".join(f"line {i}\n" for i in range(50)))
    a = source(name="text", path=str(tmp_path / "c.txt"), split_seed=1)
    b = source(name="text", path=str(tmp_path / "c.txt"), split_seed=1)
    c = source(name="text", path=str(tmp_path / "c.txt"), split_seed=2)
    assert a.splits() == b.splits() and a.split_record() == b.split_record()
    assert a.splits()["test"] != c.splits()["test"]
    assert a.split_record()["splits"]["test"]["count"] == 5


@settings(max_examples=50, deadline=None)
@given(n=st.integers(10, 300), seed=st.integers(0, 10**6), val=st.floats(0.05, 0.4), test=st.floats(0.05, 0.4))
def test_derived_splits_partition_the_data(n, seed, val, test):
    examples = [{"i": i} for i in range(n)]
    splits = derive_splits(examples, seed, val, test)
    seen = sorted(e["i"] for part in splits.values() for e in part)
    assert seen == list(range(n))  # every example in exactly one split
    assert len(splits["test"]) == max(1, round(n * test)) and len(splits["validation"]) == max(1, round(n * val))
    assert splits == derive_splits(examples, seed, val, test)


cell = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(lambda s: s.strip() == s)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(cell, st.sampled_from(["a", "b", "c"])), min_size=1, max_size=15),
       suffix=st.sampled_from([".csv", ".tsv"]), kind=st.sampled_from(["csv", "jsonl"]))
def test_written_rows_read_back_unchanged(tmp_path_factory, rows, suffix, kind):
    import csv as csv_module

    folder = tmp_path_factory.mktemp("rows")
    if kind == "jsonl":
        path = folder / "d.jsonl"
        path.write_text("".join(json.dumps({"t": t, "y": y}, ensure_ascii=False) + "\n" for t, y in rows), encoding="utf-8")
    else:
        path = folder / f"d{suffix}"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv_module.writer(f, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(["t", "y"])
            writer.writerows(rows)
    examples = source(name=kind, path=str(path), text_field="t", label_field="y", validation_ratio=0,
                      test_ratio=0).splits()["train"]
    assert [(e["text"], e["label"]) for e in examples] == rows


def test_boolean_labels_map_whichever_way_they_are_written(tmp_path):
    path = write_jsonl(tmp_path / "bool.jsonl", [{"text": f"t {i}", "label": bool(i % 2)} for i in range(20)])
    splits = source(name="jsonl", path=str(path), label_map={True: "pos", False: "neg"}).splits()
    assert {ex["label"] for v in splits.values() for ex in v} == {"pos", "neg"}


def test_a_null_text_is_an_error_not_the_text_none(tmp_path):
    path = write_jsonl(tmp_path / "nulls.jsonl", [{"text": "fine", "label": 1}, {"text": None, "label": 0}])
    with pytest.raises(NlpfError, match=r"nulls.jsonl:2: 'text' \(data.text_field\) is null"):
        source(name="jsonl", path=str(path)).splits()


@pytest.mark.parametrize("value, kind", [({"a": 1}, "object"), (["x", "y"], "list"), (True, "boolean")])
def test_a_text_that_is_no_string_is_an_error_not_its_repr(tmp_path, value, kind):
    path = write_jsonl(tmp_path / "mixed.jsonl", [{"text": "fine", "label": 1}, {"text": value, "label": 0}])
    with pytest.raises(NlpfError, match=rf"mixed.jsonl:2: 'text' \(data.text_field\) is a JSON {kind}, not a string"):
        source(name="jsonl", path=str(path)).splits()


def test_an_object_label_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "dict.jsonl", [{"text": "fine", "label": 1}, {"text": "odd", "label": {"a": 1}}])
    with pytest.raises(NlpfError, match=r"dict.jsonl:2: 'label' \(data.label_field\) is not a label"):
        source(name="jsonl", path=str(path)).splits()


def test_tokens_and_tags_of_different_lengths_name_the_example(tmp_path):
    from framework.data.pipeline import build_datasets
    from framework.tokenizers import build_tokenizer

    rows = [{"words": "New York is big", "labels": "B-LOC I-LOC O O"} for _ in range(9)]
    rows.append({"words": "New York is", "labels": "B-LOC I-LOC"})
    path = write_jsonl(tmp_path / "tags.jsonl", rows)
    node = OmegaConf.create({"name": "jsonl", "path": str(path), "text_field": None, "label_field": None,
                             "columns": {"tokens": "words", "tags": "labels"}, "validation_ratio": 0,
                             "test_ratio": 0})
    with pytest.raises(NlpfError, match="has 3 tokens but 2 tags"):
        build_datasets(node, build_tokenizer(OmegaConf.create({"name": "byte"})), "token_classification", 32,
                       cache_dir=tmp_path / "cache", verbose=False)


def test_a_qa_question_longer_than_max_length_is_named(tmp_path):
    from framework.data.pipeline import build_datasets
    from framework.tokenizers import build_tokenizer

    rows = [{"question": "who?", "context": "Ann went home.", "answer_start": 0, "answer_text": "Ann"}] * 9
    rows.append({"question": "what is it " * 30, "context": "Ann went home.", "answer_start": 0, "answer_text": "Ann"})
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    cols = {k: k for k in ("question", "context", "answer_start", "answer_text")}
    node = OmegaConf.create({"name": "jsonl", "path": str(path), "text_field": None, "label_field": None,
                             "columns": cols, "validation_ratio": 0, "test_ratio": 0})
    with pytest.raises(NlpfError, match="question alone is .* tokens, more than max_length=48"):
        build_datasets(node, build_tokenizer(OmegaConf.create({"name": "byte", "template": "cls_sep"})), "qa", 48,
                       cache_dir=tmp_path / "cache", verbose=False)


def test_multi_label_cells_split_on_label_separator_and_json_lists_stay_lists(tmp_path):
    (tmp_path / "t.csv").write_text("text,tags\na match and a vote,sports | politics\nnothing,\nnew chip,tech\n")
    node = dict(name="csv", path=str(tmp_path / "t.csv"), label_field="tags", validation_ratio=0, test_ratio=0)
    labels = [ex["label"] for ex in source(**node, label_separator="|").splits()["train"]]
    assert labels == [["sports", "politics"], [], ["tech"]]  # names stripped; an empty cell is no label
    assert source(**node).splits()["train"][0]["label"] == "sports | politics"  # no separator: one label per cell
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "x", "label": [1, 0]}, {"text": "y", "label": []}])
    ex = source(name="jsonl", path=str(path), label_map={"1": "spam", "0": "ham"}, validation_ratio=0,
                test_ratio=0).splits()["train"]
    assert [e["label"] for e in ex] == [["spam", "ham"], []]  # each name through data.label_map
    (tmp_path / "u.csv").write_text("text,tags\na match and a vote,sports|politic\n")
    with pytest.raises(NlpfError, match=r"u.csv:2: label 'politic' is not in data.label_map.*Did you mean 'politics'"):
        source(**dict(node, path=str(tmp_path / "u.csv")), label_separator="|",
               label_map={"sports": "S", "politics": "P", "tech": "T"}).splits()
    with pytest.raises(NlpfError, match="label_separator"):
        source(**node, label_separator="")


@pytest.mark.parametrize("data, override, message", [
    ("text", "data.min_chars=-1", "must be >= 0"), ("text", "data.unit=lines", "Did you mean 'line'"),
    ("tiny_corpus", "data.unit=file", "choose one of line, paragraph")])
def test_text_options_are_checked_when_the_config_is_composed(data, override, message):
    from framework import config
    from framework.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        config.load([f"data={data}", "data.path=x" if data == "text" else "seed=0", override])
    assert message in err.value.message + (err.value.hint or "")
