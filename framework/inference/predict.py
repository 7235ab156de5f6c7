"""Labels for new text: sequence classification (one label, or every label over a threshold), token
classification (entity spans with character offsets) and extractive QA.

Records stream through in chunks: each chunk is sorted by length so that batches carry little
padding, run through the model, and written back in input order. A large file is never held in
memory, only one chunk of it.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TextIO

import torch

from framework.errors import NlpfError
from framework.inference.scoring import pad_right

TASKS = ("classification", "regression", "multilabel", "token_classification", "qa", "mlm")
# the keyword options of `predict` / `predict_stream` besides batch_size, chunk_size and record_names
PREDICT_OPTIONS = ("max_length", "top_k", "max_answer_length", "threshold", "text_field", "pair_field",
                   "question_field", "context_field")
FORMATS = ("auto", "jsonl", "csv", "tsv", "text")


# ---------------------------------------------------------------- reading input


def detect_format(path: Optional[str], fmt: str) -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            from framework.errors import did_you_mean

            raise NlpfError(f"unknown input format '{fmt}'." + did_you_mean(fmt, FORMATS),
                            hint="format is one of " + ", ".join(FORMATS))
        return fmt
    if path is None or path == "-":
        return "auto-lines"  # stdin: JSON objects or plain text, decided per line
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {"jsonl": "jsonl", "json": "jsonl", "ndjson": "jsonl", "csv": "csv", "tsv": "tsv"}.get(suffix, "text")


def _decoded(lines: Iterable, where: str, lines_read: Optional[Callable[[], int]] = None) -> Iterator:
    """The items of `lines`: a text stream's lines, or a reader over them that says how many it has read with
    `lines_read` (CSV records may span lines). Broken UTF-8 in the input becomes an NlpfError naming its line."""
    count = 0
    try:
        for count, item in enumerate(lines, 1):
            yield item
    except UnicodeDecodeError as err:
        # a text stream decodes a block (8 KB) at a time, ahead of the lines read: the bad byte is on the line after
        # the last one read, plus one for each line end before it in the block
        line = (lines_read() if lines_read is not None else count) + err.object.count(b"\n", 0, err.start) + 1
        raise NlpfError(f"{where}, line {line}: not valid UTF-8 (byte 0x{err.object[err.start]:02x})",
                        hint="convert the input to UTF-8 (iconv -f latin1 -t utf-8 FILE)") from None


def read_records(stream: TextIO, fmt: str, text_field: str = "text", where: str = "input") -> Iterator[dict]:
    """Yield one dict per example. Plain-text lines become {"text": line}, an empty line {"text": ""} (so the
    output keeps one row per input line); a JSON string likewise. Blank lines in JSONL are skipped."""
    for _, record in numbered_records(stream, fmt, text_field, where):
        yield record


def numbered_records(stream: TextIO, fmt: str, text_field: str = "text",
                     where: str = "input") -> Iterator[tuple[int, dict]]:
    """`read_records` with the line number of each record (for CSV/TSV the line it ends on), for errors
    about an example that name where it is in the file."""
    if fmt in ("csv", "tsv"):
        yield from _csv_records(stream, "," if fmt == "csv" else "\t", where)
        return
    for number, line in enumerate(_decoded(stream, where), 1):
        line = line.rstrip("\n").rstrip("\r")
        if not line.strip() and fmt == "jsonl":
            continue
        if fmt == "text" or (fmt == "auto-lines" and not line.lstrip().startswith(("{", '"'))):
            yield number, {text_field: line}
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise NlpfError(f"{where}, line {number}: not valid JSON ({err.msg})",
                            hint="use format=text for plain text, one example a line") from None
        if value is None or isinstance(value, (bool, list)):  # str() would make the text 'None' or '[1, 2]'
            raise NlpfError(f"{where}, line {number}: a JSON {_json_type(value)}, not an object or a text",
                            hint=f'write one example a line as a JSON object ({{"{text_field}": "..."}}), '
                                 "or use format=text for plain text")
        yield number, (value if isinstance(value, dict) else {text_field: value})


def _json_type(value: Any) -> str:
    return "null" if value is None else "true/false" if isinstance(value, bool) else "array"


def _csv_records(stream: TextIO, delimiter: str, where: str) -> Iterator[tuple[int, dict]]:
    """(line, row) of a CSV/TSV stream, header first. A row with more or fewer cells than the header, or a quote
    that is never closed (it swallows the rest of the file), is an error naming its line, as in training
    (framework.data.readers.read_csv, which reads a whole file and cannot read stdin)."""
    reader = csv.reader(stream, delimiter=delimiter, strict=True)  # strict: an unclosed quote is an error at EOF
    rows = _decoded(reader, where, lambda: reader.line_num)
    start = 1  # the line the current row starts on
    try:
        header = next(rows, None)
        start = reader.line_num + 1
        for row in rows if header is not None else ():
            if row:  # a blank line is no example (as csv.DictReader skips it)
                if len(row) != len(header):
                    raise NlpfError(f"{where}, line {reader.line_num}: {len(row)} columns but the header has "
                                    f"{len(header)} ({', '.join(header)})",
                                    hint="check the delimiter (format=csv|tsv) and the quoting of that row")
                yield reader.line_num, dict(zip(header, row))
            start = reader.line_num + 1
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            raise NlpfError(f"{where}, line {start}: a quote opened in the row that starts on this line is never "
                            "closed, so it swallows the rest of the file",
                            hint='close the quote; a quote inside a quoted cell is written twice ("")') from None
        raise NlpfError(f"{where}, line {reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'} ({err})",
                        hint='check the quoting of that row: a quoted cell is "..." with "" for a quote inside') from None


def text_value(value: Any, key: str, where: str) -> str:
    """An example's text under `key`. JSON null, true/false, a list or an object is an error: str() would turn it
    into the text 'None' or 'True' and label, score, embed or continue that. Numbers are kept as written (as
    training reads them)."""
    if value is None or isinstance(value, (bool, list, dict)):
        raise NlpfError(f"{where}: '{key}' is {json.dumps(value)}, not a text",
                        hint=f'write it as a JSON string ({{"{key}": "..."}}) or leave the example out')
    return str(value)


def chunks(items: Iterable[Any], size: int) -> Iterator[list]:
    it = iter(items)
    while True:
        block = list(islice(it, size))
        if not block:
            return
        yield block


def _field(record: dict, key: str, where: str, hint_keys: Sequence[str]) -> Any:
    """record[key]; `where` names the example ('example 3', or 'FILE, line 4' from the CLI)."""
    if key not in record:
        from framework.errors import did_you_mean

        raise NlpfError(f"{where}: no field '{key}' (fields: {', '.join(map(str, record))})."
                        + did_you_mean(key, [str(k) for k in record]),
                        hint=f"name the field with {hint_keys[0]}=FIELD")
    return record[key]


def _text_field(record: dict, key: str, where: str, option: str) -> str:
    return text_value(_field(record, key, where, [option]), key, where)


# options that only some tasks use: given for another task, they would be silently ignored
TASK_OPTIONS = {
    "threshold": ("multilabel",),
    "top_k": ("classification", "mlm"),
    "pair_field": ("classification", "regression", "multilabel"),
    "question_field": ("qa",),
    "context_field": ("qa",),
    "max_answer_length": ("qa",),
}


def check_task_options(task: str, given: dict) -> None:
    """Refuse an option (not None in `given`) that this task does not use, naming what it is for."""
    from framework.inference.api import _TASK_WORDS

    for name, tasks in TASK_OPTIONS.items():
        if given.get(name) is None or task in tasks:
            continue
        words = [_TASK_WORDS.get(t, t) for t in tasks]
        what = ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]
        hint = f"drop {name}="
        if name == "threshold" and task == "classification":
            hint += "; a single-label classifier gives its most probable label (top_k=N gives the N best)"
        raise NlpfError(f"{name}= only applies to {what}; this checkpoint is {_TASK_WORDS.get(task, task)}",
                        hint=hint)


# ---------------------------------------------------------------- batching


def by_length(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Index batches of examples of similar length (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


# ---------------------------------------------------------------- tasks


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def first_subtokens(word_ids: Sequence[Optional[int]], num_words: int, truncated: bool) -> list[Optional[int]]:
    """The position of each word's first sub-token, which carries its label as in training; None for a word
    that has no sub-token. When the encoding was truncated, the words after the last one reached are left out."""
    first: dict[int, int] = {}
    for position, word in enumerate(word_ids):
        if word is not None and word not in first:
            first[word] = position
    if truncated:
        num_words = min(num_words, max(first) + 1 if first else 0)
    return [first.get(w) for w in range(num_words)]


def entity_spans(words: Sequence[tuple[str, int, int]], tags: Sequence[str], probs: Sequence[float],
                 text: str) -> list[dict]:
    """Group BIO/IOB2 word tags (B-X, I-X, O; plain X counts as I-X) into spans with character offsets."""
    spans: list[dict] = []
    current = None
    for (word, start, end), tag, p in zip(words, tags, probs):
        prefix, _, kind = tag.partition("-") if "-" in tag else ("I", "", tag)
        if tag == "O" or not kind:
            current = None
            continue
        if prefix == "B" or current is None or current["entity"] != kind:
            current = {"entity": kind, "start": start, "end": end, "scores": [p]}
            spans.append(current)
        else:
            current["end"] = end
            current["scores"].append(p)
    for s in spans:
        scores = s.pop("scores")
        s["text"] = text[s["start"]:s["end"]]
        s["score"] = sum(scores) / len(scores)
    return spans


class Predictor:
    """Runs one task over records, a batch at a time. Built by `Pipeline.predict*`."""

    def __init__(self, pipeline, task: str, batch_size: int = 32, max_length: Optional[int] = None,
                 top_k: Optional[int] = None, max_answer_length: Optional[int] = None, text_field: str = "text",
                 pair_field: Optional[str] = None, question_field: Optional[str] = None,
                 context_field: Optional[str] = None, threshold: Optional[float] = None):
        """The task-specific options are None when not given: given to a task that does not use them, they are
        an error, not ignored. pair_field given means every example has that pair; by default an example's
        'text_pair' is used when it has one."""
        if task not in TASKS:
            from framework.inference.api import BARE_ENCODER_HINT

            raise NlpfError(f"this checkpoint's task is '{task}', which `predict` does not handle",
                            hint=BARE_ENCODER_HINT if task == "encoder" else
                            "use `nlpf generate` for language models and `nlpf translate` for seq2seq models")
        check_task_options(task, dict(top_k=top_k, max_answer_length=max_answer_length, pair_field=pair_field,
                                      question_field=question_field, context_field=context_field,
                                      threshold=threshold))
        from framework.inference.api import describe, positive_int

        # the CLI checks these in PredictArgs; from Python they arrive here as given
        batch_size = positive_int("predict", "batch_size", batch_size)
        max_length, top_k, max_answer_length = (
            None if value is None else positive_int("predict", name, value)
            for name, value in (("max_length", max_length), ("top_k", top_k), ("max_answer_length", max_answer_length)))
        for name, value in (("text_field", text_field), ("pair_field", pair_field), ("question_field", question_field),
                            ("context_field", context_field)):
            if not (isinstance(value, str) and value) and not (value is None and name != "text_field"):
                raise NlpfError(f"predict: invalid value {describe(value)} for '{name}': the name of a field",
                                hint=f"pass {name}='...' (a dict key of the examples)")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))):
            raise NlpfError(f"predict: invalid value {describe(threshold)} for 'threshold': a probability, from 0 to 1",
                            hint="e.g. threshold=0.5 (a label is given when its probability is above it)")
        self.p = pipeline
        self.task = task
        self.batch_size = batch_size
        self.max_length = max_length or pipeline.max_length
        self.top_k = top_k or (5 if task == "mlm" else 1)  # labels, or fill-mask candidates (5 as in transformers)
        self.max_answer_length = max_answer_length or 30
        threshold = 0.5 if threshold is None else threshold
        if not 0 <= float(threshold) <= 1:
            raise NlpfError(f"invalid value {threshold!r} for 'threshold': a probability, from 0 to 1",
                            hint="e.g. threshold=0.5 (a label is given when its probability is above it)")
        self.threshold = float(threshold)  # multi-label: a label is given when its probability is above it
        self.pair_required = pair_field is not None
        self.fields = dict(text=text_field, pair=pair_field or "text_pair", question=question_field or "question",
                           context=context_field or "context")
        tok = pipeline.tokenizer
        self.pad_id = tok.pad_id if tok.pad_id is not None else 0
        self.mask_id = tok.mask_id
        if task == "mlm":
            if tok.mask_id is None:
                raise NlpfError("this masked LM's tokenizer has no mask token, so there is nothing to fill in",
                                hint="use `nlpf score` for its pseudo-log-likelihoods")
            self.mask_token = tok.decode([tok.mask_id], skip_special_tokens=False)
            if not self.mask_token or tok.mask_id not in tok.encode_batch([self.mask_token])[0].ids:
                raise NlpfError(f"this tokenizer ({type(tok).__name__}) has no text that encodes to its mask token, "
                                "so a text cannot mark what to fill in",
                                hint="fill-mask needs a tokenizer with a written mask token ([MASK], <mask>), such as "
                                "tokenizer=hf or sentencepiece; `nlpf score` still gives pseudo-log-likelihoods")
        self.labels = pipeline.labels

    def _label(self, index: int) -> str:
        return self.labels[index] if self.labels and index < len(self.labels) else str(index)

    def run(self, records: Iterable[dict], chunk_size: int = 1024,
            names: Optional[Iterable[str]] = None) -> Iterator[dict]:
        """Predictions in input order, reading `chunk_size` records ahead. `names` says where each record is, for
        errors ('FILE, line 4'); by default 'example N'."""
        named = zip(names, records) if names is not None else ((None, r) for r in records)
        number = 0
        for block in chunks(named, chunk_size):
            yield from self._run_block([r for _, r in block],
                                       [n or f"example {number + i}" for i, (n, _) in enumerate(block, 1)])
            number += len(block)

    @torch.inference_mode()
    def _run_block(self, records: list[dict], names: list[str]) -> list[dict]:
        # each record becomes one or more windows (long QA contexts); windows are batched by length
        encoded = [self._encode(r, name) for r, name in zip(records, names)]
        windows = [(i, w) for i, enc in enumerate(encoded) for w in (enc["windows"] if "windows" in enc else [enc])]
        logits_of: list[list[torch.Tensor]] = [[] for _ in records]
        for batch in by_length([len(w["ids"]) for _, w in windows], self.batch_size):
            rows = [windows[k][1] for k in batch]
            ids, mask = pad_right([r["ids"] for r in rows], self.pad_id, self.p.device)
            kwargs = {}
            if any(any(r.get("type_ids") or ()) for r in rows):  # pairs; all-zero segments are the default
                kwargs["token_type_ids"], _ = pad_right([r["type_ids"] for r in rows], 0, self.p.device)
            if self.task == "mlm":  # the head at the masks only: [n masks, V] per row, not [L, V]
                logits = self._mask_logits(ids, mask, [r["ids"] for r in rows])
            else:
                logits = self.p.model(input_ids=ids, attention_mask=mask, **kwargs).logits.float().cpu()
            for j, k in enumerate(batch):
                logits_of[windows[k][0]].append((windows[k][1], logits[j]))
        return [self._decode(records[i], encoded[i], logits_of[i]) for i in range(len(records))]

    def _mask_logits(self, ids: torch.Tensor, mask: torch.Tensor, rows: list[list[int]]) -> list[torch.Tensor]:
        """The logits at each row's masks: [masks in the row, V] per row."""
        from framework.model import logits_at

        flat = logits_at(self.p.model, ids, mask, ids == self.mask_id)
        return list(flat.float().cpu().split([r.count(self.mask_id) for r in rows]))

    def _encode(self, record: dict, where: str) -> dict:
        tok, f = self.p.tokenizer, self.fields
        if not isinstance(record, dict):  # from Python: None, a number, a list... (the CLI reads dicts only)
            from framework.inference.api import describe

            raise NlpfError(f"{where}: {describe(record)} is not a text or a record",
                            hint='give each example as a string, or a dict such as {"text": "..."}'
                                 + ('; a number as text: str(x)' if isinstance(record, (int, float)) else ""))
        if self.task == "qa":
            question = _text_field(record, f["question"], where, "question_field")
            context = _text_field(record, f["context"], where, "context_field")
            enc = tok.encode_batch([question], pair=[context], with_offsets=True)[0]
            return {"windows": self._windows(enc), "context": context}
        if self.task == "token_classification":
            if "tokens" in record and f["text"] not in record:
                words_in = [str(w) for w in record["tokens"]]
                text = " ".join(words_in)
                words, pos = [], 0
                for w in words_in:
                    words.append((w, pos, pos + len(w)))
                    pos += len(w) + 1
            else:
                text = _text_field(record, f["text"], where, "text_field")
                words = _words(text)
            enc = tok.encode_batch([[w for w, _, _ in words] or [""]], max_length=self.max_length)[0]
            return {"ids": enc.ids, "word_ids": enc.word_ids, "words": words, "text": text}
        text = _text_field(record, f["text"], where, "text_field")
        if self.task == "mlm":
            ids = tok.encode_batch([text], max_length=self.max_length)[0].ids
            if self.mask_id not in ids:
                raise NlpfError(f"{where}: no {self.mask_token} in the text, so there is nothing to fill in",
                                hint=f"write {self.mask_token} where a word should be predicted: "
                                     f"'Paris is the {self.mask_token} of France.'")
            return {"ids": ids}
        pair = self._pair(record, where)
        enc = tok.encode_batch([text], pair=[pair] if pair is not None else None, max_length=self.max_length)[0]
        return {"ids": enc.ids, "type_ids": enc.type_ids}

    def _pair(self, record: dict, where: str) -> Optional[str]:
        """The second text of a pair: required when pair_field= was given, else 'text_pair' if the example has one."""
        key = self.fields["pair"]
        if self.pair_required:
            return _text_field(record, key, where, "pair_field")
        return text_value(record[key], key, where) if record.get(key) is not None else None

    def _windows(self, enc) -> list[dict]:
        """Split a long context into overlapping windows that each fit max_length with the question,
        like the `doc_stride` of `transformers`' QA pipeline (overlap: half a window, at most 128)."""
        seq = enc.sequence_ids
        context = [i for i, s in enumerate(seq) if s == 1]
        if len(enc.ids) <= self.max_length or not context:
            return [{"ids": enc.ids, "type_ids": enc.type_ids, "offsets": enc.offsets, "seq": seq}]
        first, last = context[0], context[-1] + 1
        room = self.max_length - first - (len(enc.ids) - last)
        if room < 1:
            raise NlpfError(f"the question alone is longer than max_length={self.max_length} tokens",
                            hint="shorten the question or raise max_length=")
        step = max(room - min(128, room // 2), 1)
        out = []
        for start in range(first, last, step):
            stop = min(start + room, last)
            keep = list(range(first)) + list(range(start, stop)) + list(range(last, len(enc.ids)))
            out.append({k: [v[i] for i in keep] for k, v in
                        (("ids", enc.ids), ("type_ids", enc.type_ids), ("offsets", enc.offsets), ("seq", seq))})
            if stop == last:
                break
        return out

    def _decode(self, record: dict, enc: dict, window_logits: list) -> dict:
        out = {"id": record["id"]} if "id" in record else {}
        if self.task == "qa":
            return self._answer(out, enc["context"], window_logits)
        (_, logits), = window_logits
        if self.task == "mlm":
            return self._fills(out, enc["ids"], logits)
        length = len(enc["ids"])
        if self.task == "regression":
            out["score"] = float(logits.reshape(-1)[0])
            return out
        if self.task == "multilabel":  # a sigmoid per label; every label above the threshold, most probable first
            probs = logits.sigmoid().tolist()
            out["labels"] = [self._label(i) for i in sorted(range(len(probs)), key=lambda i: -probs[i])
                             if probs[i] > self.threshold]
            out["scores"] = {self._label(i): float(p) for i, p in enumerate(probs)}
            return out
        if self.task == "classification":
            probs = logits.softmax(-1)
            top = torch.topk(probs, min(self.top_k, probs.shape[-1]))
            out["label"] = self._label(int(top.indices[0]))
            out["score"] = float(top.values[0])
            if self.top_k > 1:
                out["top"] = [{"label": self._label(int(i)), "score": float(v)}
                              for v, i in zip(top.values, top.indices)]
            out["probabilities"] = {self._label(i): float(p) for i, p in enumerate(probs.tolist())}
            return out
        if self.task == "token_classification":
            probs = logits[:length].softmax(-1)
            best_p, best = probs.max(-1)
            first = first_subtokens(enc["word_ids"] or [], len(enc["words"]), truncated=length >= self.max_length)
            words = enc["words"][:len(first)]
            # a word with no sub-token (a zero-width character, say) has nothing to classify: O
            tags = [self._label(int(best[i])) if i is not None else "O" for i in first]
            scores = [float(best_p[i]) if i is not None else 0.0 for i in first]
            out["tokens"] = [w for w, _, _ in words]
            out["tags"] = tags
            out["entities"] = entity_spans(words, tags, scores, enc["text"])
            return out
        raise AssertionError(self.task)

    def _fills(self, out: dict, ids: list[int], logits: torch.Tensor) -> dict:
        """Fill-mask: the top_k tokens for each mask, and the text with every mask filled by its best token."""
        tok = self.p.tokenizer
        top = torch.topk(logits.softmax(-1), min(self.top_k, logits.shape[-1]))
        out["masks"] = [[{"token": tok.decode([int(i)], skip_special_tokens=False), "token_id": int(i), "score": float(v)}
                         for v, i in zip(values, indices)] for values, indices in zip(top.values, top.indices)]
        best = iter(top.indices[:, 0].tolist())
        out["text"] = tok.decode([next(best) if t == self.mask_id else t for t in ids])
        return out

    def _answer(self, out: dict, context: str, window_logits: list) -> dict:
        """The best span over all windows: start/end log-softmax over each window's context tokens,
        end >= start, at most max_answer_length tokens."""
        best = (float("-inf"), 0, 0)
        for window, logits in window_logits:
            positions = [i for i, s in enumerate(window["seq"]) if s == 1]
            if not positions:
                continue
            idx = torch.tensor(positions)
            pair = logits[idx, 0].log_softmax(-1)[:, None] + logits[idx, 1].log_softmax(-1)[None, :]
            n = len(positions)
            ones = torch.ones(n, n, dtype=torch.bool)
            pair = pair.masked_fill(~(ones.triu() & ~ones.triu(self.max_answer_length)), float("-inf"))
            flat = int(pair.flatten().argmax())
            s, e = divmod(flat, n)
            if float(pair[s, e]) > best[0]:
                best = (float(pair[s, e]), window["offsets"][positions[s]][0], window["offsets"][positions[e]][1])
        score, start, end = best
        out.update(answer=context[start:end], start=start, end=end, score=math.exp(score) if score > float("-inf") else 0.0)
        return out


def open_input(path: Optional[str]) -> TextIO:
    if path is None:
        raise NlpfError("no input given", hint="pass input=FILE, or input=- to read standard input")
    if path == "-":  # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the first text
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig")
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise NlpfError(f"input file '{path}' does not exist", hint="check the path, or use input=- for stdin") from None
    except IsADirectoryError:
        raise NlpfError(f"input={path} is a directory",
                        hint="name a file (plain text, .jsonl, .csv or .tsv), or use input=- for stdin") from None
    except PermissionError:
        raise NlpfError(f"cannot read input={path}: permission denied",
                        hint="fix the file's permissions or copy it somewhere readable") from None
