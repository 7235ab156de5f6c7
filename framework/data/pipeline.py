"""From a data config and a tokenizer to datasets the training code batches.

`build_datasets` reads the source, builds label vocabularies from the training split, tokenizes each split
once (cached as memory-mapped arrays) and returns a dataset per split. Each dataset carries `task`,
`lengths`, `label_names`, `split_record` and a `collate_fn` that makes the batches of docs/internals.md.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Sequence

import numpy as np
from omegaconf import DictConfig, OmegaConf

from framework.data.source import DataSource
from framework.data.token_cache import cache_key, id_dtype, load_entry, ragged, save_entry, token_cache_root
from framework.errors import NlpfError, did_you_mean

log = logging.getLogger("nlpf.data")

TASKS = ("lm", "classification", "regression", "multilabel", "token_classification", "seq2seq", "qa")
REQUIRED_KEYS = {
    "lm": ("text",),
    "classification": ("text", "label"),
    "regression": ("text", "label"),  # label: a number
    "multilabel": ("text", "label"),  # label: a list of label names, maybe empty
    "token_classification": ("tokens", "tags"),
    "seq2seq": ("source", "target"),
    "qa": ("question", "context", "answer_start", "answer_text"),
}
IGNORE = -100
CHUNK = 8192  # examples per native batch-encoding call (the library parallelises inside one call)


def build_source(data_cfg) -> DataSource:
    """Validate a data node and build its registered source."""
    from framework.config import validate_component
    from framework.plugins import registries

    node = data_cfg if isinstance(data_cfg, DictConfig) else OmegaConf.create(dict(data_cfg))
    node = validate_component("data", node)
    return registries().data.get(node.name).build_fn()(node)


def corpus_texts(source: DataSource, split: str = "train") -> Iterable[str]:
    """Every text of a split (all fields that hold text), e.g. to train a tokenizer on."""
    examples = source.stream(split) if _is_streaming(source) else source.splits()[split]
    for ex in examples:
        for key in ("text", "text_pair", "source", "target", "question", "context"):
            if isinstance(ex.get(key), str):
                yield ex[key]
        if isinstance(ex.get("tokens"), list):
            yield " ".join(ex["tokens"])


def _is_streaming(source: DataSource) -> bool:
    return bool(source.cfg.get("streaming", False)) and hasattr(source, "stream")


def _check_examples(task: str, split: str, examples: Sequence[dict], source: DataSource) -> None:
    if not examples:
        raise NlpfError(f"the {split} split of data '{source.cfg.name}' is empty",
                        hint="check the data files, or change validation_ratio/test_ratio")
    missing = [k for k in REQUIRED_KEYS[task] if k not in examples[0]]
    if missing:
        raise NlpfError(
            f"task '{task}' needs example keys {', '.join(REQUIRED_KEYS[task])}, but data '{source.cfg.name}' gives "
            f"{', '.join(examples[0]) or 'none'} (missing {', '.join(missing)})",
            hint="map your columns with data.text_field / data.label_field / +data.columns.KEY=COLUMN, "
            "or choose data that fits the task",
        )
    if task in ("classification", "multilabel"):
        _check_label_kinds(task, split, examples, source)
    if task == "token_classification":
        bad = next((i for i, ex in enumerate(examples) if len(ex.get("tokens") or []) != len(ex.get("tags") or [])), None)
        if bad is not None:
            ex = examples[bad]
            raise NlpfError(f"the {split} split of data '{source.cfg.name}': example {bad + 1} has "
                            f"{len(ex.get('tokens') or [])} tokens but {len(ex.get('tags') or [])} tags "
                            f"({' '.join(map(str, (ex.get('tokens') or [])[:8]))} ...)",
                            hint="each word needs exactly one tag; check the data and data.columns.tokens/tags")


def _check_label_kinds(task: str, split: str, examples: Sequence[dict], source: DataSource) -> None:
    """Multi-label examples carry a list of names; single-label ones one label, not a list."""
    multi = task == "multilabel"
    bad = next((i for i, ex in enumerate(examples) if isinstance(ex.get("label"), list) != multi), None)
    if bad is None:
        return
    where = f"the {split} split of data '{source.cfg.name}': example {bad + 1} ({_snippet(examples[bad])})"
    label = examples[bad].get("label")
    if multi:
        raise NlpfError(f"{where} has label {label!r}, one value, where multi-label classification needs a list of "
                        "label names", hint="write the labels as a JSON list ([\"a\", \"b\"], [] for none), or for "
                        "CSV/TSV name the separator of the label column: data.label_separator='|'")
    raise NlpfError(f"{where} has a list of labels {label!r}, where classification needs one label per text",
                    hint="for several labels per text use objective=multi_label_classification")


def _snippet(example: dict) -> str:
    text = str(example.get("text", ""))
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def _label_order(label: str):
    """Numeric labels in numeric order (2 before 10), then the others alphabetically."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _labels_in(task: str, examples: Sequence[dict]) -> set[str]:
    if task == "classification":
        return {str(ex["label"]) for ex in examples}
    if task == "multilabel":
        return {str(name) for ex in examples for name in ex["label"]}
    return {str(t) for ex in examples for t in ex["tags"]}


def _drop_unseen_labels(task: str, splits: dict[str, list[dict]], record: dict) -> None:
    """data.max_examples (a quick run) samples each split on its own, so a rare label may reach validation or
    test and miss train: leave those examples out, and say so, instead of refusing the run."""
    known = _labels_in(task, splits["train"])
    for split in [s for s in splits if s != "train"]:
        kept = [ex for ex in splits[split] if _labels_in(task, [ex]) <= known]
        dropped = len(splits[split]) - len(kept)
        if dropped and kept:
            splits[split] = kept
            record.get("splits", {}).get(split, {}).update(count=len(kept), dropped_unseen_labels=dropped)
            print(f"data: max_examples: left out {dropped} {split} example(s) with labels the sampled training "
                  "split lacks", file=sys.stderr)


def label_vocabulary(task: str, splits: dict[str, Sequence[dict]], source: DataSource,
                     labels: Sequence[str] | None) -> list[str] | None:
    """Labels seen in train (or given); a label in another split that train never saw is an error."""
    if task not in ("classification", "multilabel", "token_classification"):
        return None

    def seen(examples):
        return _labels_in(task, examples)

    given = labels is not None
    if labels is None:
        train = seen(splits["train"])
        if source.label_names and train <= set(source.label_names):
            labels = list(source.label_names)
        elif task == "token_classification":
            labels = (["O"] if "O" in train else []) + sorted(train - {"O"})
        else:
            labels = sorted(train, key=_label_order)
        if task == "classification" and len(labels) < 2:
            raise NlpfError(f"the training split of data '{source.cfg.name}' has only one label ({', '.join(labels)})",
                            hint="a classifier needs at least two labels; check data.label_field")
        if task == "multilabel" and not labels:
            raise NlpfError(f"no example of the training split of data '{source.cfg.name}' has a label",
                            hint="check data.label_field (and data.label_separator for CSV/TSV)")
    known = set(labels)
    for split, examples in splits.items():
        if task == "multilabel":
            _check_multilabel_names(split, examples, labels, source, given)
            continue
        unseen = sorted(seen(examples) - known)
        if unseen and given:  # the labels of a checkpoint (evaluate, init_from) or of labels=
            mapping = ",".join(f"{u}:{name}" for u, name in zip(unseen, labels))
            raise NlpfError(
                f"the {split} split of data '{source.cfg.name}' has label(s) {', '.join(map(repr, unseen[:5]))} that "
                f"are not among the labels given (labels=, or the checkpoint's): {', '.join(labels)}."
                + did_you_mean(unseen[0], labels),
                hint=f"use data labelled with these names, or map the data's names onto them "
                f"(data.label_map={{{mapping},...}})")
        if unseen:
            raise NlpfError(
                f"the {split} split of data '{source.cfg.name}' has label(s) {', '.join(map(repr, unseen[:5]))} that "
                f"the training split never has." + did_you_mean(unseen[0], labels),
                hint=f"known labels: {', '.join(labels)}; fix the data, map the label with data.label_map, "
                "or re-split (split_seed)",
            )
    return list(labels)


def _check_multilabel_names(split: str, examples: Sequence[dict], labels: Sequence[str], source: DataSource,
                            given: bool) -> None:
    """Every name of every example is a known label; the first one that is not is named with its example."""
    known = set(labels)
    for i, ex in enumerate(examples):
        unknown = next((str(n) for n in ex["label"] if str(n) not in known), None)
        if unknown is None:
            continue
        whose = "the labels given (labels=, or the checkpoint's)" if given else "the labels of the training split"
        raise NlpfError(
            f"the {split} split of data '{source.cfg.name}': example {i + 1} ({_snippet(ex)}) has label "
            f"{unknown!r}, which is not among {whose}." + did_you_mean(unknown, labels),
            hint=f"known labels: {', '.join(labels)}; fix the data, map the name with data.label_map, or re-split "
            "(split_seed)")


# --- per-task encoding: examples -> dict of arrays -----------------------------------------------

def _chunks(seq: Sequence, size: int = CHUNK):
    for start in range(0, len(seq), size):
        yield seq[start:start + size]


def _end_id(tok) -> int | None:
    return tok.eos_id if tok.eos_id is not None else tok.sep_id


def encode_lm(examples, tok, max_length, labels):
    """Documents joined into one token stream, each followed by </s>; blocks are cut at read time."""
    end = _end_id(tok)
    parts = []
    for chunk in _chunks(examples):
        for enc in tok.encode_batch([ex["text"] for ex in chunk], add_special_tokens=False):
            parts.append(np.asarray(enc.ids + ([end] if end is not None else []), dtype=np.int64))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return {"ids": flat.astype(id_dtype(tok.vocab_size))}


def _encode_texts(examples, tok, max_length) -> dict:
    """Token ids and type ids of each example's text (and text_pair)."""
    ids, types = [], []
    has_pair = "text_pair" in examples[0]
    for chunk in _chunks(examples):
        pair = [ex["text_pair"] for ex in chunk] if has_pair else None
        for enc in tok.encode_batch([ex["text"] for ex in chunk], pair=pair, max_length=max_length):
            ids.append(enc.ids)
            types.append(enc.type_ids)
    flat, index = ragged(ids, id_dtype(tok.vocab_size))
    return {"ids": flat, "index": index, "type_ids": ragged(types, np.int8)[0]}


def encode_classification(examples, tok, max_length, labels):
    label_id = {name: i for i, name in enumerate(labels)}
    return {**_encode_texts(examples, tok, max_length),
            "labels": np.array([label_id[str(ex["label"])] for ex in examples], dtype=np.int64)}


def encode_regression(examples, tok, max_length, labels):
    """As classification, with the label a number (a float target) instead of a class name."""
    targets = []
    for i, ex in enumerate(examples):
        try:
            targets.append(float(ex["label"]))
        except (TypeError, ValueError):
            raise NlpfError(f"example {i + 1} has label {ex['label']!r}, which is not a number",
                            hint="regression needs a numeric label; for class names use a classification "
                            "objective (objective=sequence_classification)") from None
    return {**_encode_texts(examples, tok, max_length), "labels": np.array(targets, dtype=np.float32)}


def encode_multilabel(examples, tok, max_length, labels):
    """As classification, with a multi-hot row per example ([examples, labels], 1 where the label applies)."""
    label_id = {name: i for i, name in enumerate(labels)}
    hot = np.zeros((len(examples), len(labels)), dtype=np.uint8)
    for i, ex in enumerate(examples):
        hot[i, [label_id[str(name)] for name in ex["label"]]] = 1
    return {**_encode_texts(examples, tok, max_length), "labels": hot}


def encode_token_classification(examples, tok, max_length, labels):
    """First sub-token of each word carries the word's tag; other sub-tokens and specials get -100."""
    ids, tags = [], []
    tag_id = {name: i for i, name in enumerate(labels)}
    for chunk in _chunks(examples):
        for ex, enc in zip(chunk, tok.encode_batch([ex["tokens"] for ex in chunk], max_length=max_length)):
            previous, row = None, []
            for w in enc.word_ids:
                row.append(IGNORE if w is None or w == previous else tag_id[str(ex["tags"][w])])
                previous = w
            ids.append(enc.ids)
            tags.append(row)
    flat, index = ragged(ids, id_dtype(tok.vocab_size))
    return {"ids": flat, "index": index, "tags": ragged(tags, np.int16 if len(labels) < 30000 else np.int32)[0]}


def encode_seq2seq(examples, tok, max_length, labels):
    end = _end_id(tok)
    out = {}
    for key, field in (("ids", "source"), ("target", "target")):
        seqs = []
        for chunk in _chunks(examples):
            for enc in tok.encode_batch([ex[field] for ex in chunk], add_special_tokens=False):
                body = enc.ids[: max_length - 1] if end is not None else enc.ids[:max_length]
                seqs.append(body + ([end] if end is not None else []))
        out[key], out[f"{key}_index" if key == "target" else "index"] = ragged(seqs, id_dtype(tok.vocab_size))
    return out


def answer_token_span(enc, start_char: int, end_char: int) -> tuple[int, int]:
    """Token positions covering [start_char, end_char) in the second segment; (0, 0) when truncated away."""
    start = end = None
    for i, (seq, (a, b)) in enumerate(zip(enc.sequence_ids, enc.offsets)):
        if seq != 1 or b <= a:
            continue
        if start is None and b > start_char:
            start = i
        if a < end_char:
            end = i
    if start is None or end is None or end < start:
        return 0, 0
    last_context = max(i for i, s in enumerate(enc.sequence_ids) if s == 1) if 1 in enc.sequence_ids else -1
    if enc.offsets[last_context][1] < end_char:  # the answer runs past the truncated context
        return 0, 0
    return start, end


def _question_too_long(examples, tok, max_length) -> NlpfError:
    lengths = [len(e.ids) for e in tok.encode_batch([ex["question"] for ex in examples])]
    worst = max(range(len(examples)), key=lengths.__getitem__)
    return NlpfError(f"example {worst + 1}'s question alone is {lengths[worst]} tokens, more than max_length="
                     f"{max_length} leaves for it and its context ({examples[worst]['question'][:60]!r})",
                     hint="raise max_length, or shorten or drop such questions")


def encode_qa(examples, tok, max_length, labels):
    ids, types, starts, ends = [], [], [], []
    for offset, chunk in zip(range(0, len(examples), CHUNK), _chunks(examples)):
        try:  # only the context is cut: a question that does not fit cannot be answered from any context
            encs = tok.encode_batch([ex["question"] for ex in chunk], pair=[ex["context"] for ex in chunk],
                                    with_offsets=True, max_length=max_length, truncation="only_second")
        except Exception as err:  # the tokenizers library refuses it with a bare Exception
            if "truncat" not in str(err).lower():
                raise
            raise _question_too_long(chunk, tok, max_length) from None
        if any(len(enc.ids) > max_length for enc in encs):
            raise _question_too_long(chunk, tok, max_length)
        for ex, enc in zip(chunk, encs):
            a = int(ex["answer_start"])
            s, e = answer_token_span(enc, a, a + len(ex["answer_text"]))
            ids.append(enc.ids)
            types.append(enc.type_ids)
            starts.append(s)
            ends.append(e)
    flat, index = ragged(ids, id_dtype(tok.vocab_size))
    return {"ids": flat, "index": index, "type_ids": ragged(types, np.int8)[0],
            "start_positions": np.array(starts, dtype=np.int64), "end_positions": np.array(ends, dtype=np.int64)}


ENCODERS = {
    "lm": encode_lm,
    "classification": encode_classification,
    "regression": encode_regression,
    "multilabel": encode_multilabel,
    "token_classification": encode_token_classification,
    "seq2seq": encode_seq2seq,
    "qa": encode_qa,
}


# --- datasets ----------------------------------------------------------------------------------

class PackedDataset:
    """Language modelling: the split's token stream cut into blocks of `block_size` (the last one padded)."""

    def __init__(self, ids: np.ndarray, block_size: int, pad_id: int):
        self.ids, self.block_size, self.pad_id = ids, block_size, pad_id
        self.num_tokens = len(ids)

    def __len__(self) -> int:
        return max(1, -(-self.num_tokens // self.block_size)) if self.num_tokens else 0

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        block = np.asarray(self.ids[i * self.block_size:(i + 1) * self.block_size], dtype=np.int64)
        mask = np.ones(self.block_size, dtype=np.int64)
        if len(block) < self.block_size:
            mask[len(block):] = 0
            block = np.concatenate([block, np.full(self.block_size - len(block), self.pad_id, dtype=np.int64)])
        return {"input_ids": block, "attention_mask": mask}

    @property
    def lengths(self) -> np.ndarray:
        return np.full(len(self), self.block_size, dtype=np.int64)


class RaggedDataset:
    """One tokenized example per item, read from the memory-mapped arrays."""

    def __init__(self, task: str, arrays: dict[str, np.ndarray]):
        self.task, self.arrays = task, arrays
        self.index = arrays["index"]

    def __len__(self) -> int:
        return len(self.index) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(np.asarray(self.index))

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        a, b = int(self.index[i]), int(self.index[i + 1])
        arr = self.arrays
        item = {"input_ids": np.asarray(arr["ids"][a:b], dtype=np.int64)}
        if "type_ids" in arr:
            item["token_type_ids"] = np.asarray(arr["type_ids"][a:b], dtype=np.int64)
        if self.task == "classification":
            item["labels"] = int(arr["labels"][i])
        elif self.task == "regression":
            item["labels"] = float(arr["labels"][i])
        elif self.task == "multilabel":
            item["labels"] = np.asarray(arr["labels"][i], dtype=np.float32)
        elif self.task == "token_classification":
            item["labels"] = np.asarray(arr["tags"][a:b], dtype=np.int64)
        elif self.task == "seq2seq":
            ta, tb = int(arr["target_index"][i]), int(arr["target_index"][i + 1])
            item["labels"] = np.asarray(arr["target"][ta:tb], dtype=np.int64)
        elif self.task == "qa":
            item["start_positions"] = int(arr["start_positions"][i])
            item["end_positions"] = int(arr["end_positions"][i])
        return item


def _say(verbose: bool, message: str) -> None:
    log.info(message)
    if verbose:
        print(message, file=sys.stderr)


def _attach(ds, task, tokenizer, labels, record, pad_to_multiple_of):
    from framework.data.collate import Collator

    ds.task = task
    ds.label_names = labels
    ds.split_record = record
    ds.collate_fn = Collator(task, tokenizer.pad_id if tokenizer.pad_id is not None else 0, pad_to_multiple_of)
    return ds


def _tokenize(source, tokenizer, task, max_length, labels, streaming) -> tuple[dict, dict]:
    """Read, check and encode every split: (meta, {split: arrays})."""
    if streaming:  # the training stream is tokenized as it is read; validation and test are cached
        splits = {s: list(source.stream(s)) for s in ("validation", "test")}
        record = {"source": source.cfg.name, "streaming": True,
                  "splits": {s: {"count": len(v)} for s, v in splits.items()}}
    else:
        splits = source.splits()
        record = source.split_record()
    for split, examples in splits.items():
        _check_examples(task, split, examples, source)
    if labels is None and task in ("classification", "multilabel", "token_classification") and source.cfg.get(
            "max_examples"):
        splits = dict(splits)
        _drop_unseen_labels(task, splits, record)
    vocab = label_vocabulary(task, splits, source, labels)
    arrays = {split: ENCODERS[task](examples, tokenizer, max_length, vocab) for split, examples in splits.items()}
    data = OmegaConf.to_container(source.cfg, resolve=True) if isinstance(source.cfg, DictConfig) else dict(source.cfg)
    meta = {"task": task, "labels": vocab, "record": record, "tokenizer": tokenizer.fingerprint()[:200], "data": data}
    return meta, arrays


def build_datasets(data_cfg, tokenizer, task: str, max_length: int, cache_dir: str | os.PathLike | None = None,
                   seed: int = 0, labels: Sequence[str] | None = None, pad_to_multiple_of: int | None = None,
                   source: DataSource | None = None, verbose: bool = True) -> dict[str, object]:
    """Datasets per split for `task`, tokenized once and cached.

    Args:
        data_cfg: the `data` config node (name + fields of its source).
        tokenizer: a framework.tokenizers.Tokenizer.
        task: lm | classification | regression | multilabel | token_classification | seq2seq | qa.
        max_length: block size for lm; truncation length for the other tasks.
        cache_dir: where token arrays live (default $NLPF_CACHE/tokens).
        seed: stored on the datasets as the default shuffling seed of their samplers.
        labels: a fixed label vocabulary (e.g. from a checkpoint); by default built from the training split.
        pad_to_multiple_of: round padded lengths up (8 helps tensor cores).
        source: an already built source (skips building it from data_cfg).
        verbose: print one line to stderr saying whether the token cache was built or reused.
    """
    if task not in TASKS:
        raise NlpfError(f"unknown task '{task}'." + did_you_mean(task, TASKS), hint=f"tasks: {', '.join(TASKS)}")
    if max_length < 2:
        raise NlpfError(f"max_length={max_length} is too small", hint="set max_length to 8 or more")
    source = source or build_source(data_cfg)
    streaming = task == "lm" and _is_streaming(source)
    key = cache_key(tokenizer.fingerprint(), source.fingerprint(), task, max_length if task != "lm" else None,
                    list(labels) if labels is not None else None, streaming)
    directory = token_cache_root(cache_dir) / key
    entry = load_entry(directory)
    if entry is None:
        start = time.perf_counter()
        meta, arrays = _tokenize(source, tokenizer, task, max_length, labels, streaming)
        save_entry(directory, meta, arrays)
        counts = ", ".join(f"{s} {info['count']}" for s, info in meta["record"]["splits"].items())
        _say(verbose, f"data: tokenized {counts} examples for {task} in {time.perf_counter() - start:.1f}s; "
                      f"token cache {directory}")
        entry = load_entry(directory)
    else:
        _say(verbose, f"data: reusing token cache {directory}")
    meta, arrays = entry
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else 0
    out = {}
    for split, fields in arrays.items():
        ds = PackedDataset(fields["ids"], max_length, pad) if task == "lm" else RaggedDataset(task, fields)
        out[split] = _attach(ds, task, tokenizer, meta["labels"], meta["record"], pad_to_multiple_of)
        out[split].seed = seed
        out[split].cache_dir = directory
    if streaming:
        from framework.data.streaming import StreamingLMDataset

        train = StreamingLMDataset(source, tokenizer, max_length)
        out = {"train": _attach(train, task, tokenizer, None, meta["record"], pad_to_multiple_of), **out}
        train.seed = seed
    for split, ds in out.items():
        if not isinstance(ds, (PackedDataset, RaggedDataset)):
            continue
        if len(ds) == 0:
            raise NlpfError(f"the {split} split of data '{source.cfg.name}' has no tokens after tokenization",
                            hint="check the data and the tokenizer")
    return out
