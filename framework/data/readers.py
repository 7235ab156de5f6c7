"""Reading users' files: paths, directories and globs; text, JSONL and CSV/TSV; field mapping.
Every failure names the file (and line) and says how to fix it."""
from __future__ import annotations

import csv
import glob
import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

from framework.errors import NlpfError, did_you_mean

TEXT_SUFFIXES = {".txt", ".text", ".md", ".raw", ""}


def resolve_files(spec: str | None, key: str = "data.path", suffixes: set[str] | None = None) -> list[Path]:
    """A file, a directory (its files, recursively, sorted) or a glob pattern -> existing files."""
    if not spec:
        raise NlpfError(f"{key} is not set", hint=f"pass {key}=FILE, a directory or a glob such as 'data/*.txt'")
    path = Path(os.path.expanduser(str(spec)))
    if any(ch in str(spec) for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(str(spec)), recursive=True) if Path(p).is_file())
        if not files:
            raise NlpfError(f"{key}='{spec}' matches no files", hint="check the pattern (quote it in the shell)")
        return files
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and (suffixes is None or p.suffix.lower() in suffixes))
        if not files:
            raise NlpfError(f"{key}='{spec}' is a directory without data files", hint="put files in it or point at a file")
        return files
    if path.is_file():
        return [path]
    parent = path.parent if str(path.parent) else Path(".")
    close = did_you_mean(path.name, [p.name for p in parent.iterdir()]) if parent.is_dir() else ""
    where = f" (the directory {parent} does not exist either)" if not parent.is_dir() else ""
    raise NlpfError(f"{key}: file '{spec}' does not exist{where}." + close,
                    hint=f"fix the path (relative paths start at {Path.cwd()})")


def read_lines(path: Path, encoding_errors: str = "strict", keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """(line number from 1, line without its newline, or with it when keep_ends). Non-UTF-8 bytes raise an
    error naming the line, unless encoding_errors='replace'."""
    if encoding_errors not in ("strict", "replace", "ignore"):
        raise NlpfError(f"encoding_errors='{encoding_errors}' is not supported", hint="use strict, replace or ignore")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8", errors=encoding_errors)
            except UnicodeDecodeError as err:
                raise NlpfError(
                    f"{path}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})",
                    hint="convert the file to UTF-8 (iconv -f latin1 -t utf-8), or set data.encoding_errors=replace",
                ) from None
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]  # byte-order mark
            yield number, line if keep_ends else line.rstrip("\r\n")


def read_text(path: Path, encoding_errors: str = "strict") -> str:
    return "\n".join(line for _, line in read_lines(path, encoding_errors))


def read_jsonl(path: Path, encoding_errors: str = "strict") -> Iterator[tuple[int, dict]]:
    for number, line in read_lines(path, encoding_errors):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise NlpfError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})",
                            hint="JSONL files hold one JSON object per line") from None
        if not isinstance(row, dict):
            raise NlpfError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}",
                            hint="JSONL files hold one JSON object per line")
        yield number, row


def sniff_delimiter(path: Path, delimiter: str | None) -> str:
    if delimiter:
        return "\t" if delimiter in ("\\t", "tab") else delimiter
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def read_csv(path: Path, delimiter: str | None = None, column_names: list[str] | None = None,
             encoding_errors: str = "strict") -> Iterator[tuple[int, dict]]:
    """Rows as dicts keyed by the header (or by `column_names` for files without a header)."""
    # Line ends are kept so that a quoted cell's own "\r\n" reads back as written; csv splits records itself.
    text = "".join(line for _, line in read_lines(path, encoding_errors, keep_ends=True))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(path, delimiter))
    header = list(column_names) if column_names else next(reader, None)
    if header is None:
        return
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise NlpfError(
                f"{path}:{reader.line_num}: {len(row)} columns but the header has {len(header)} ({', '.join(header)})",
                hint="check the delimiter (data.delimiter) and the quoting of that row",
            )
        yield reader.line_num, dict(zip(header, row))


def get_field(row: dict, field: str, path: Path, number: int, key: str) -> Any:
    """row[field], or an error that names the setting, the file and close column names."""
    if field in row:
        return row[field]
    columns = [str(c) for c in row]
    raise NlpfError(
        f"{key}='{field}': no such column in {path} (line {number})." + did_you_mean(field, columns),
        hint=f"columns in this file: {', '.join(columns)}; set {key}=COLUMN"
        + (f" (or {key}=null when the task does not use it)" if key.endswith("_field") else ""),
    )
