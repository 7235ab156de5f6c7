"""Predictions: classification, tagging with character offsets, QA; input formats; order; streaming."""
from __future__ import annotations

import io

import pytest
import torch

from framework.errors import NlpfError
from framework.inference.predict import entity_spans, first_subtokens, read_records
from tests.framework.inference.conftest import make

BERT = ["model=bert_tiny", "tokenizer=byte"]
TEXTS = ["short", "a considerably longer sentence than the others here", "mid sized text", "x",
         "another one of medium length", "tiny"]


@pytest.fixture(scope="module")
def classifier():
    return make(BERT + ["head=sequence_classification", "objective=sequence_classification"],
                labels=["neg", "neu", "pos"])


@pytest.fixture(scope="module")
def tagger():
    return make(BERT + ["head=token_classification", "objective=token_classification"],
                labels=["O", "B-PER", "I-PER", "B-LOC"])


@pytest.fixture(scope="module")
def reader():
    return make(BERT + ["head=qa", "objective=qa"])


def test_classification_output_in_input_order(classifier):
    batched = classifier.predict(TEXTS, batch_size=2, chunk_size=4)  # sorted by length inside each chunk
    single = [classifier.predict([t])[0] for t in TEXTS]
    assert len(batched) == len(TEXTS)
    for b, s in zip(batched, single):
        assert b["label"] == s["label"]
        assert b["probabilities"] == pytest.approx(s["probabilities"], abs=1e-5)
    first = batched[0]
    assert set(first["probabilities"]) == {"neg", "neu", "pos"}
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert first["score"] == pytest.approx(max(first["probabilities"].values()))


def test_classification_matches_the_model_and_keeps_ids(classifier):
    out = classifier.predict([{"id": 7, "text": "hello", "text_pair": "world"}], top_k=2)[0]
    enc = classifier.tokenizer.encode_batch(["hello"], pair=["world"])[0]
    with torch.no_grad():
        logits = classifier.model(torch.tensor([enc.ids]), token_type_ids=torch.tensor([enc.type_ids])).logits[0]
    probs = logits.softmax(-1).tolist()
    assert out["id"] == 7
    assert [out["probabilities"][k] for k in ("neg", "neu", "pos")] == pytest.approx(probs, abs=1e-5)
    assert [t["label"] for t in out["top"]][0] == out["label"]


def test_multi_label_gives_every_label_over_the_threshold_with_sigmoid_scores():
    tagger = make(BERT + ["head=sequence_classification", "objective=multi_label_classification"],
                  labels=["politics", "sports", "tech", "health"])
    assert tagger.task == "multilabel"
    enc = tagger.tokenizer.encode_batch(["hello"])[0]
    with torch.no_grad():
        probs = tagger.model(torch.tensor([enc.ids])).logits[0].sigmoid().tolist()
    for threshold in (0.0, sorted(probs)[1], 0.5, 1.0):
        out = tagger.predict([{"id": 3, "text": "hello"}], threshold=threshold)[0]
        assert out["id"] == 3
        assert [out["scores"][k] for k in ("politics", "sports", "tech", "health")] == pytest.approx(probs, abs=1e-5)
        above = sorted((p, name) for name, p in out["scores"].items() if p > threshold)
        assert out["labels"] == [name for _, name in reversed(above)]  # most probable first
    assert len(tagger.predict(["hello"], threshold=0.0)[0]["labels"]) == 4
    assert tagger.predict(["hello"], threshold=1.0)[0]["labels"] == []
    with pytest.raises(NlpfError, match="invalid value 50 for 'threshold': a probability"):
        tagger.predict(["hello"], threshold=50)  # from Python too, not only the CLI


def test_token_classification_spans_have_character_offsets(tagger):
    text = "Ada  Lovelace visited   London today"
    out = tagger.predict([text])[0]
    assert out["tokens"] == text.split()
    assert len(out["tags"]) == len(out["tokens"])
    for e in out["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]
        assert e["entity"] in ("PER", "LOC") and 0 < e["score"] <= 1
    pre = tagger.predict([{"tokens": ["Ada", "Lovelace"]}])[0]
    assert pre["tokens"] == ["Ada", "Lovelace"]


def test_every_word_keeps_its_own_tag(tagger):
    # word 1 has no sub-token (a zero-width character, say): no tag of its own, and no shift of the others
    assert first_subtokens([None, 0, 0, 2, None], 3, truncated=False) == [1, None, 3]
    assert first_subtokens([None, 0, 2, 2, None], 4, truncated=False) == [1, None, 2, None]
    # truncated: the words after the last one reached are left out
    assert first_subtokens([None, 0, 1, 1, None], 5, truncated=True) == [1, 2]
    words = ["word"] * 40
    cut = tagger.predict([{"tokens": words}], max_length=32)[0]
    assert 0 < len(cut["tokens"]) == len(cut["tags"]) < len(words)


def test_entity_spans_group_bio_tags():
    text = "Ada Lovelace met Bob in Paris"
    words = [(m, text.index(m), text.index(m) + len(m)) for m in text.split()]
    tags = ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC"]
    spans = entity_spans(words, tags, [0.9, 0.7, 0.9, 0.8, 0.9, 0.6], text)
    assert [(s["entity"], s["text"], s["start"], s["end"]) for s in spans] == [
        ("PER", "Ada Lovelace", 0, 12), ("PER", "Bob", 17, 20), ("LOC", "Paris", 24, 29)]
    assert spans[0]["score"] == pytest.approx(0.8)
    # an I- tag after O or after another type starts a new span
    spans = entity_spans(words[:3], ["I-PER", "I-LOC", "O"], [1, 1, 1], text)
    assert [s["text"] for s in spans] == ["Ada", "Lovelace"]


def test_qa_answers_come_from_the_context(reader):
    context = "The Eiffel Tower is in Paris and was finished in 1889."
    out = reader.predict([{"question": "Where is it?", "context": context}], max_answer_length=5)[0]
    assert out["answer"] == context[out["start"]:out["end"]]
    assert 0 <= out["start"] <= out["end"] <= len(context) and 0 < out["score"] <= 1
    assert out["end"] - out["start"] <= 5 * 1 + 5  # byte tokens: at most five (multi-byte) characters
    with pytest.raises(NlpfError, match="question"):
        reader.predict([{"text": "no question here"}])


def test_input_formats():
    # an empty line is an empty example, so output line N still answers input line N
    assert list(read_records(io.StringIO("a\n\nb c\n  \n"), "text")) == [
        {"text": "a"}, {"text": ""}, {"text": "b c"}, {"text": "  "}]
    assert list(read_records(io.StringIO('{"text": "a", "id": 1}\n\n"b"\n'), "jsonl")) == [  # JSONL skips blanks
        {"text": "a", "id": 1}, {"text": "b"}]
    assert list(read_records(io.StringIO("id,text\n1,hello\n2,\"a, b\"\n"), "csv")) == [
        {"id": "1", "text": "hello"}, {"id": "2", "text": "a, b"}]
    assert list(read_records(io.StringIO("text\tlabel\nhi\tpos\n"), "tsv")) == [{"text": "hi", "label": "pos"}]
    # stdin: JSON objects and plain lines mixed
    assert list(read_records(io.StringIO('{"text": "a"}\nplain\n\n'), "auto-lines")) == [
        {"text": "a"}, {"text": "plain"}, {"text": ""}]
    with pytest.raises(NlpfError, match="line 2"):
        list(read_records(io.StringIO('{"text": "a"}\n{bad\n'), "jsonl"))


def test_missing_field_suggests_the_close_name(classifier):
    with pytest.raises(NlpfError, match="did you mean 'txt'|Did you mean 'txt'"):
        classifier.predict([{"txt": "hello"}], text_field="text")


def test_predict_streams_lazily(classifier):
    consumed = []

    def records():
        for i in range(10):
            consumed.append(i)
            yield {"id": i, "text": "t" * (i + 1)}

    stream = classifier.predict_stream(records(), batch_size=2, chunk_size=3)
    first = next(stream)
    assert first["id"] == 0 and len(consumed) == 3  # only one chunk was read
    assert [r["id"] for r in stream] == list(range(1, 10))


def test_predict_refuses_a_language_model(gpt):
    with pytest.raises(NlpfError, match="generate"):
        gpt.predict(["hello"])


class _PointAtByte(torch.nn.Module):
    """A QA model that puts start and end on every occurrence of one token id (enough to check windows)."""

    kind = "encoder"

    def __init__(self, target: int):
        super().__init__()
        self.target = target
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, **_):
        hit = (input_ids == self.target).float() * 10.0 + self.anchor
        return type("Out", (), {"logits": torch.stack([hit, hit], dim=-1)})()


def test_long_qa_contexts_are_split_into_windows(reader):
    from tests.framework.inference.conftest import Loaded

    tok = reader.tokenizer
    target = tok.encode("Z", add_special_tokens=False)[0]
    context = "a" * 150 + " Z " + "b" * 60
    pointing = Loaded(_PointAtByte(target), tok, reader.config)
    out = pointing.predict([{"question": "where?", "context": context}], max_length=40)[0]
    assert (out["answer"], out["start"]) == ("Z", context.index("Z"))
    # windows: each fits max_length and together they cover every context token
    from framework.inference.predict import Predictor

    predictor = Predictor(reader, "qa", max_length=40)
    enc = tok.encode_batch(["where?"], pair=[context], with_offsets=True)[0]
    windows = predictor._windows(enc)
    assert len(windows) > 1 and all(len(w["ids"]) <= 40 for w in windows)
    covered = {tuple(o) for w in windows for o, s in zip(w["offsets"], w["seq"]) if s == 1}
    assert covered == {tuple(o) for o, s in zip(enc.offsets, enc.sequence_ids) if s == 1}


def test_predict_stream_takes_file_lines(classifier, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("good film\nbad film\n")
    with open(path) as f:
        from_file = list(classifier.predict_stream(f))
    assert [r["probabilities"] for r in from_file] == [r["probabilities"] for r in classifier.predict(["good film", "bad film"])]


def test_a_plugin_objective_decides_the_task(tmp_path):
    """The task of a third-party objective comes from its `task`, not from a table of built-in names."""
    from framework.plugins import registries

    if "multi_margin" not in registries().objective or "max_pool" not in registries().head:
        pytest.skip("pip install -e tests/fixtures/nlpf-demo-plugin")
    hinge = make(BERT + ["head=max_pool", "objective=multi_margin"], labels=["neg", "pos"])
    assert hinge.task == "classification"
    out = hinge.predict(["good film", "bad film"])
    assert {r["label"] for r in out} <= {"neg", "pos"} and len(out[0]["probabilities"]) == 2


def test_fill_mask_with_a_tokenizer_that_cannot_write_its_mask_says_so():
    mlm = make(BERT + ["head=bert_mlm", "objective=masked_lm", "tokenizer.template=cls_sep"])
    assert mlm.task == "mlm" and mlm.tokenizer.mask_id is not None
    with pytest.raises(NlpfError, match="has no text that encodes to its mask token") as err:
        mlm.predict(["Paris is the capital."])
    assert "tokenizer=hf" in err.value.hint


def test_input_files_with_a_byte_order_mark(tmp_path):
    from framework.inference.predict import open_input

    for name, body in (("a.txt", "first line\nsecond\n"), ("a.jsonl", '{"text": "first line"}\n'),
                       ("a.csv", "text,id\nfirst line,1\n")):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + body.encode())
        with open_input(str(tmp_path / name)) as f:
            records = list(read_records(f, {"txt": "text", "jsonl": "jsonl", "csv": "csv"}[name.split(".")[1]]))
        assert records[0]["text"] == "first line", (name, records[0])


@pytest.mark.parametrize("fmt, head, bom", [("text", "", False), ("jsonl", "", True), ("csv", "text\n", False)])
@pytest.mark.parametrize("before", [2, 700], ids=["small_file", "past_the_first_8_kb"])
def test_broken_utf8_names_its_line(tmp_path, fmt, head, bom, before):
    """A text file is decoded 8 KB at a time, ahead of the lines read: a bad byte on line 3 of a small file was
    reported 'after 0 good records'. The error names the bad byte's line, in a small file or far into a big one."""
    from framework.inference.predict import open_input

    good = '{"text": "a good line of text"}' if fmt == "jsonl" else "a good line of text"
    body = (head + f"{good}\n" * before).encode() + b"caf\xe9 au lait\n" + f"{good}\n".encode() * 3
    path = tmp_path / f"in.{fmt}"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    line = before + 1 + (1 if head else 0)  # the CSV header is line 1
    with open_input(str(path)) as f, pytest.raises(NlpfError, match=rf"in\.{fmt}, line {line}: not valid UTF-8 "
                                                                    r"\(byte 0xe9\)") as err:
        list(read_records(f, fmt, where=str(path)))
    assert "iconv" in err.value.hint
