"""`nlpf predict | generate | translate | score | embed`: key=value arguments, JSONL or text out.

Output files are written to a temporary file next to the target and renamed when complete, so an
error never leaves half an output behind; `output=` is checked before the model is loaded, and the file gets
the permissions a plain `open()` would give it (the umask's, or those of the file it replaces).
"""
from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, TextIO

from framework.atomic import file_mode
from framework.config import parse_into
from framework.errors import NlpfError
from framework.inference.options import EmbedArgs, GenerateArgs, GenerationOptions, PredictArgs, ScoreArgs


def check_output(path: Optional[str]) -> None:
    """Refuse an `output=` that cannot be written (a directory, a missing or non-directory parent, a directory
    that is not writable), before any work is done."""
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise NlpfError(f"output={path} is a directory",
                        hint=f"name a file to write, for example output={target / 'out.jsonl'}")
    parent = target.parent
    if not parent.exists():
        raise NlpfError(f"cannot write output={path}: the directory '{parent}' does not exist",
                        hint="create the directory first or choose another output=")
    if not parent.is_dir():
        raise NlpfError(f"cannot write output={path}: '{parent}' is not a directory",
                        hint="choose another output=")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NlpfError(f"cannot write output={path}: permission denied",
                        hint="choose a writable location or fix the permissions")


@contextmanager
def output_stream(path: Optional[str]) -> Iterator[TextIO]:
    """stdout, or an atomically replaced file. The file gets the permissions `open(path, "w")` would give it:
    those of the file it replaces, else 0o666 & ~umask (not the 0600 of a temporary file)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    check_output(path)
    target = Path(path)
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), mode)
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, target)
        except IsADirectoryError:  # a directory appeared there while we wrote
            raise NlpfError(f"output={path} is a directory",
                            hint=f"name a file to write, for example output={target / 'out.jsonl'}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(schema, args: list[str]):
    """parse_into; `key=-` (stdin/stdout) means the string '-', which a YAML parser would read as a list."""
    from framework.errors import ConfigError

    try:
        return _parse_into(schema, args)
    except ConfigError:
        if not any(a.endswith("=-") for a in args):
            raise
        return _parse_into(schema, [f"{a[:-2]}='-'" if a.endswith("=-") else a for a in args])


def _parse_into(schema, args: list[str]):
    """parse_into, with a YAML syntax error reported as the argument it is in (there is no file)."""
    import yaml

    from framework.errors import ConfigError

    try:
        return parse_into(schema, args)
    except yaml.YAMLError as err:
        bad = next((a for a in args if _yaml_problem(a.partition("=")[2])), " ".join(args))
        key = bad.partition("=")[0]
        raise ConfigError(f"cannot parse the argument {bad}: {_yaml_problem(bad.partition('=')[2]) or err}",
                          hint=f"check the brackets and quotes of that value; a list looks like {key}='[\".\", \"!\"]'"
                          ) from None


def _yaml_problem(value: str) -> Optional[str]:
    """What is wrong with `value` as YAML, or None when it parses."""
    import yaml

    try:
        yaml.safe_load(value)
    except yaml.YAMLError as err:
        return getattr(err, "problem", None) or str(err).splitlines()[0]
    return None


def _load(args):
    import torch

    import framework
    from framework.inference.device import usable_device

    if not args.ckpt:
        raise NlpfError("no checkpoint given", hint="pass ckpt=PATH (a directory from `nlpf train` or `nlpf import hf`)")
    from framework.training.pretrained import PACKAGED_PREFIX

    if not args.ckpt.startswith(PACKAGED_PREFIX) and not Path(args.ckpt).is_dir():
        from framework.checkpoint import not_a_directory

        raise not_a_directory(args.ckpt, "ckpt")
    # device and dtype are checked before the (slow) load
    device = usable_device(args.device)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if args.dtype not in dtypes:
        from framework.errors import did_you_mean

        raise NlpfError(f"unknown dtype '{args.dtype}'." + did_you_mean(args.dtype, dtypes), hint="dtype=float32|bfloat16")
    pipe = framework.load(args.ckpt)
    pipe.model.to(device=device, dtype=dtypes[args.dtype]).eval()
    return pipe


def _jsonl(obj) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _text(rec: dict, key: str, where: str, number: int) -> str:
    """The text under `key` of an input record. A JSON null, true/false, list or object is an error: str() would
    turn it into the text 'None' or 'True' and score, embed or continue that. Numbers are kept as written."""
    value = rec[key]
    if value is None or isinstance(value, (bool, list, dict)):
        raise NlpfError(f"{where}, example {number}: '{key}' is {json.dumps(value)}, not a text",
                        hint=f'write it as a JSON string ({{"{key}": "..."}}) or leave the example out')
    return str(value)


# ---------------------------------------------------------------- predict


def predict(args: list[str], ctx) -> int:
    """nlpf predict ckpt=PATH input=FILE|- [output=FILE] [batch_size=32] [format=auto] ..."""
    from framework.inference.predict import detect_format, open_input, read_records

    a: PredictArgs = parse_args(PredictArgs, args)
    check_output(a.output)
    fmt = detect_format(a.input, a.format)
    stream = open_input(a.input)
    pipe = _load(a)
    records = read_records(stream, fmt, a.text_field, where=a.input or "input")
    options = dict(max_length=a.max_length, top_k=a.top_k, max_answer_length=a.max_answer_length,
                   text_field=a.text_field, pair_field=a.pair_field, question_field=a.question_field,
                   context_field=a.context_field, threshold=a.threshold)
    count = 0
    with output_stream(a.output) as out:
        for result in pipe.predict_stream(records, batch_size=a.batch_size, chunk_size=a.chunk_size, **options):
            out.write(_jsonl(result))
            count += 1
    if a.output:
        print(f"wrote {count} predictions to {a.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- generate / translate


def _prompts(a: GenerateArgs, source_keys=("prompt", "text", "source")) -> Iterator[tuple[Optional[str], dict]]:
    """(where it is, for errors; None for prompt=, prompt record), read lazily from input= (or the one prompt=)."""
    from framework.inference.predict import detect_format, numbered_records, open_input

    if a.prompt is not None and a.input is not None:
        raise NlpfError("both prompt= and input= given", hint="pass one prompt with prompt=TEXT or a file with input=FILE")
    if a.prompt is not None:
        yield None, {"prompt": str(a.prompt)}
        return
    if a.input is None:
        raise NlpfError("nothing to generate from", hint="pass prompt=TEXT or input=FILE (one prompt a line, or JSONL)")
    fmt = detect_format(a.input, "auto")
    source = "standard input" if a.input == "-" else a.input
    with open_input(a.input) as stream:
        for number, (line, rec) in enumerate(numbered_records(stream, fmt, "prompt", where=a.input), 1):
            key = next((k for k in source_keys if k in rec), None)
            if key is None:
                raise NlpfError(f"{a.input}, example {number}: no prompt field (fields: {', '.join(rec)})",
                                hint=f"name it one of {', '.join(source_keys)}")
            yield f"{source}, line {line}", {**rec, "prompt": _text(rec, key, a.input, number)}


def _generation_options(a: GenerateArgs) -> dict:
    return {k: getattr(a, k) for k in GenerationOptions.__dataclass_fields__}


def _run_generation(a: GenerateArgs, require: Optional[str]) -> int:
    from framework.inference.generation import resolve_options, strategy_of
    from framework.inference.predict import chunks, open_input

    options = _generation_options(a)
    o = resolve_options(**options)  # check options before loading the model
    check_output(a.output)
    # input mistakes are reported before the (slow) model load
    if (a.prompt is None) == (a.input is None):
        next(_prompts(a))  # raises "nothing to generate from" or "both prompt= and input= given"
    if a.input not in (None, "-"):
        open_input(a.input).close()
    pipe = _load(a)
    if require == "seq2seq" and pipe.kind != "encoder-decoder":
        raise NlpfError(f"`nlpf translate` needs an encoder-decoder checkpoint; '{a.ckpt}' is a {pipe.kind}",
                        hint="use `nlpf generate` for decoder language models")
    stream = (a.stream and a.prompt is not None and a.output is None and strategy_of(o) != "beam"
              and o.num_return_sequences == 1)
    on_text = (lambda piece: (sys.stdout.write(piece), sys.stdout.flush())) if stream else None
    number = 0  # of the prompt
    with output_stream(a.output) as out:
        for block in chunks(_prompts(a), 8 * a.batch_size):  # a large input file is never read whole
            names, rows = zip(*block)
            results = pipe.generate([r["prompt"] for r in rows], batch_size=a.batch_size, details=True,
                                    on_text=on_text, prompt_names=None if a.input is None else names, **options)
            for row, hyps in zip(rows, results):
                number += 1
                if stream:
                    out.write("\n")
                elif a.output is None:  # text for reading; several sequences a prompt are marked [prompt.rank]
                    for rank, g in enumerate(hyps, 1):
                        out.write((f"[{number}.{rank}] " if len(hyps) > 1 else "") + g.text + "\n")
                else:
                    record = dict(row)
                    record["generations"] = [{"text": g.text, "score": g.score, "finish_reason": g.finish_reason,
                                              "num_tokens": len(g.token_ids)} for g in hyps]
                    record["text"] = hyps[0].text
                    out.write(_jsonl(record))
    return 0


def _generate_args(args: list[str]) -> GenerateArgs:
    from framework.inference.generation import check_transformers_names

    check_transformers_names(a.partition("=")[0] for a in args)  # before the generic "did you mean"
    return parse_args(GenerateArgs, args)


def generate(args: list[str], ctx) -> int:
    """nlpf generate ckpt=PATH prompt=TEXT|input=FILE [num_beams=4 do_sample=true temperature=0.8 ...]"""
    return _run_generation(_generate_args(args), require=None)


def translate(args: list[str], ctx) -> int:
    """nlpf translate ckpt=PATH prompt=TEXT|input=FILE [num_beams=4 ...]: generation on a seq2seq checkpoint."""
    return _run_generation(_generate_args(args), require="seq2seq")


# ---------------------------------------------------------------- score


def score(args: list[str], ctx) -> int:
    """nlpf score ckpt=PATH input=FILE [nbest=true lm_weight=0.5 length_bonus=0.0 tokens=true eos=true|false]"""
    from framework.inference.predict import _decoded, chunks, detect_format, open_input, read_records
    from framework.inference.scoring import read_nbest

    a: ScoreArgs = parse_args(ScoreArgs, args)
    check_output(a.output)
    stream = open_input(a.input)
    pipe = _load(a)
    with stream, output_stream(a.output) as out:
        if a.nbest:
            where = a.input or "input"
            for block in chunks(read_nbest(_decoded(stream, where), where=where), 64):
                for item in pipe.rescore(block, lm_weight=a.lm_weight, length_bonus=a.length_bonus,
                                         batch_size=a.batch_size, eos=a.eos):
                    out.write(_jsonl(item))
            return 0
        records = read_records(stream, detect_format(a.input, "auto"), "text", where=a.input or "input")
        number = 0  # of the example, across blocks
        for block in chunks(records, 256):
            texts, sources = [], []
            for rec in block:
                number += 1
                key = "target" if "target" in rec else "text"
                if key not in rec:
                    hint = ("an n-best list (a 'hypotheses' list a line) is rescored with nbest=true"
                            if "hypotheses" in rec else 'lines are plain text, {"text": ...} or {"source": ..., "target": ...}')
                    raise NlpfError(f"{a.input}, example {number}: no 'text' (or 'target') field (fields: "
                                    f"{', '.join(rec)})", hint=hint)
                if pipe.kind == "encoder-decoder" and "source" not in rec:
                    raise NlpfError(f"{a.input}, example {number}: no 'source' (fields: {', '.join(rec)}), and an "
                                    "encoder-decoder scores a target given its source",
                                    hint='lines are {"source": ..., "target": ...}')
                texts.append(_text(rec, key, a.input, number))
                sources.append(_text(rec, "source", a.input, number) if pipe.kind == "encoder-decoder" else "")
            scores = pipe.score(texts, sources=sources if pipe.kind == "encoder-decoder" else None,
                                batch_size=a.batch_size, tokens=a.tokens, eos=a.eos)
            for rec, s in zip(block, scores):
                out.write(_jsonl({**rec, **s}))
    return 0


# ---------------------------------------------------------------- embed


def embed(args: list[str], ctx) -> int:
    """nlpf embed ckpt=PATH input=FILE|- [output=FILE] [pooling=mean normalize=true batch_size=32]"""
    from framework.inference.predict import chunks, detect_format, open_input, read_records

    a: EmbedArgs = parse_args(EmbedArgs, args)
    check_output(a.output)
    fmt = detect_format(a.input, a.format)
    stream = open_input(a.input)
    pipe = _load(a)
    count = 0
    with stream, output_stream(a.output) as out:
        for block in chunks(read_records(stream, fmt, a.text_field, where=a.input or "input"), a.chunk_size):
            texts = []
            for number, rec in enumerate(block, count + 1):
                if a.text_field not in rec:
                    raise NlpfError(f"{a.input}: an example has no '{a.text_field}' field (fields: {', '.join(rec)})",
                                    hint="lines are plain text or JSON with the text under text_field=")
                texts.append(_text(rec, a.text_field, a.input, number))
            vectors = pipe.embed(texts, batch_size=a.batch_size, pooling=a.pooling, normalize=a.normalize)
            for rec, vector in zip(block, vectors.tolist()):
                out.write(_jsonl({**rec, "embedding": vector}))
                count += 1
    if a.output:
        print(f"wrote {count} embeddings to {a.output}", file=sys.stderr)
    return 0
