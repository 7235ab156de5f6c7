"""The readers of the named data sets, offline, on small files written in each set's real format."""
import json
import sqlite3

import pytest
from omegaconf import OmegaConf

from framework.data.pipeline import build_source
from plugins.data import sets


@pytest.fixture
def member(monkeypatch, tmp_path):
    """Point the pinned member at a fixture file instead of the downloaded wheel."""
    def use(content: bytes | None = None, name: str = "member", builder=None):
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        elif builder is not None:
            builder(path)
        monkeypatch.setattr(sets.PinnedSource, "member", lambda self: path)
        return path
    return use


def read(name, **kw):
    return build_source(OmegaConf.create({"name": name, "validation_ratio": 0, "test_ratio": 0, **kw}))


def test_sentiment_drops_neutral_rows_and_reads_crlf(member):
    member(b"id\tsentiment\ttext\r\n1\t2.2\tA fine film\r\n2\t-0.6\tToo tepid\r\n3\t0\tA film\r\n")
    src = read("sentiment")
    assert src.splits()["train"] == [{"text": "A fine film", "label": "positive"}, {"text": "Too tepid", "label": "negative"}]
    assert "dropped 1 rows with score 0" in src.notes[0]


def test_spam_repairs_merged_rows_and_dedupes(member):
    merged = 'Hi there"\nham\tSee you\nspam\tWIN cash now\ncontinued line'
    member(f',spam,text\n0,0,Hello\n1,1,Free prize\n2,0,"{merged.replace(chr(34), chr(34) * 2)}"\n3,0,Hello\n'.encode())
    src = read("spam")
    assert src.splits()["train"] == [
        {"text": "Hello", "label": "ham"}, {"text": "Free prize", "label": "spam"},
        {"text": "Hi there", "label": "ham"}, {"text": "See you", "label": "ham"},
        {"text": "WIN cash now continued line", "label": "spam"},
    ]
    assert src.notes == ["1 rows held several merged messages: split back into 3 messages", "removed 1 duplicate texts"]
    assert len(read("spam", merged_rows="drop").splits()["train"]) == 2


def test_ner_tab_separator_and_dedupe(member):
    member(b"New\tB-geo-loc\nYork\tI-geo-loc\n\t\nhi\tO\n\t\nNew\tB-geo-loc\nYork\tI-geo-loc\n")
    assert read("ner").splits()["train"] == [{"tokens": ["New", "York"], "tags": ["B-geo-loc", "I-geo-loc"]},
                                             {"tokens": ["hi"], "tags": ["O"]}]
    assert len(read("ner", dedupe=False).splits()["train"]) == 3


def test_wikipedia_extracts(member):
    member(json.dumps({"B": {"title": "B", "extract": "Bee text."}, "A": {"title": "A", "extract": "Ay text."},
                       "C": {"title": "C", "extract": ""}}).encode())
    src = read("wikipedia")
    assert src.splits()["train"] == [{"text": "Ay text."}, {"text": "Bee text."}]
    assert "skipped 1 articles" in src.notes[0]


def test_en_fr_joins_verses(member):
    def bible(path):
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE bible (bbName TEXT, bNumber INT, cNumber INT, vNumber INT, vText TEXT)")
        con.executemany("INSERT INTO bible VALUES (?,?,?,?,?)", [
            ("k", 1, 1, 2, "And the earth"), ("l", 1, 1, 1, "Au commencement"), ("k", 1, 1, 1, "In the beginning"),
            ("l", 1, 1, 2, "La terre"), ("k", 1, 1, 3, "only English"), ("x", 1, 1, 1, "other version")])
        con.commit()
        con.close()

    member(name="bible.db", builder=bible)
    assert read("en_fr").splits()["train"] == [{"source": "In the beginning", "target": "Au commencement"},
                                               {"source": "And the earth", "target": "La terre"}]
    assert read("en_fr", direction="fr-en").splits()["train"][0] == {"source": "Au commencement",
                                                                    "target": "In the beginning"}


def test_tiny_corpus_is_shipped():
    src = build_source(OmegaConf.create({"name": "tiny_corpus"}))
    assert sum(len(v) for v in src.splits().values()) == 68
    assert src.split_record()["splits"]["test"]["count"] == 7
