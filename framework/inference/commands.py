"""`nlpf predict | generate | translate | score | embed`: key=value arguments, JSONL or text out.

Output files are written to a temporary file next to the target and renamed when complete, so an
error, Ctrl-C or SIGTERM never leaves half an output behind; `output=` is checked before the model is loaded (it
may not be the input file), and the file gets the permissions a plain `open()` would give it (the umask's, or those
of the file it replaces).
"""
from __future__ import annotations

import functools
import json
import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from itertools import tee
from typing import Callable, Iterator, Optional, TextIO

from framework.atomic import Terminated, file_mode, sigterm_raises
from framework.config import parse_into
from framework.errors import NlpfError
from framework.inference.options import EmbedArgs, GenerateArgs, GenerationOptions, PredictArgs, ScoreArgs


def check_output(path: Optional[str], input: Optional[str] = None) -> None:
    """Refuse an `output=` that cannot be written (a directory, a missing or non-directory parent, a directory
    that is not writable) or that is the `input=` file, before any work is done."""
    if path is None or path == "-":
        return
    check_not_input(path, input)
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


def check_not_input(path: str, input: Optional[str]) -> None:
    """Refuse output= naming the input file, by another name too (a symbolic or hard link): the finished output
    would replace the examples it was made from."""
    if input is None or input == "-":
        return
    try:
        same = os.path.samefile(path, input)
    except OSError:  # one of them does not exist (yet): not the same file
        return
    if same:
        also = "" if path == input else f" (input={input})"
        raise NlpfError(f"output={path} is the input file{also}",
                        hint=f"write to another file, e.g. output={Path(path).with_suffix('.out.jsonl')}; "
                             "the input is never replaced")


@contextmanager
def output_stream(path: Optional[str], input: Optional[str] = None) -> Iterator[TextIO]:
    """stdout, or an atomically replaced file. The file gets the permissions `open(path, "w")` would give it:
    those of the file it replaces, else 0o666 & ~umask (not the 0600 of a temporary file)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    check_output(path, input)
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
    import framework
    from framework.inference.device import usable_device, usable_dtype

    if not args.ckpt:
        raise NlpfError("no checkpoint given", hint="pass ckpt=PATH (a directory from `nlpf train` or `nlpf import hf`)")
    from framework.training.pretrained import PACKAGED_PREFIX

    if not args.ckpt.startswith(PACKAGED_PREFIX) and not Path(args.ckpt).is_dir():
        from framework.checkpoint import not_a_directory

        raise not_a_directory(args.ckpt, "ckpt")
    # device and dtype are checked before the (slow) load
    device, dtype = usable_device(args.device), usable_dtype(args.dtype)
    return framework.load(args.ckpt, device=device, dtype=dtype)


def _terminable(command: Callable[[list[str], object], int]) -> Callable[[list[str], object], int]:
    """Run a command with SIGTERM (`kill`, a scheduler's stop, `timeout`) raised as `Terminated`, so that
    output_stream removes its temporary file as it does on Ctrl-C; then say so and exit 143, as the signal would."""
    @functools.wraps(command)
    def run(args: list[str], ctx) -> int:
        try:
            with sigterm_raises():
                return command(args, ctx)
        except Terminated:
            output = next((a.partition("=")[2] for a in reversed(args) if a.startswith("output=")), "-")
            print("terminated (SIGTERM)" + (f"; nothing was written to {output}" if output not in ("", "-") else ""),
                  file=sys.stderr)
            return Terminated.exit_code

    return run


def _given(args: list[str]) -> set[str]:
    """The keys given on the command line (an option left at its default is not among them)."""
    return {a.partition("=")[0].lstrip("+~") for a in args}


def _report(count: int, noun: str, a) -> None:
    """'wrote 2 predictions to out.jsonl' on stderr when output= is a file. An empty input is not an error (nlpf
    filters text as Unix tools do), so 0 says why, for whoever expected more."""
    if a.output is None or a.output == "-":
        return
    why = ""
    if count == 0:
        source = "standard input" if a.input == "-" else f"'{a.input}'"
        why = f" (the input {source} has no examples)"
    print(f"wrote {count} {noun} to {a.output}{why}", file=sys.stderr)


def _jsonl(obj) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _text(rec: dict, key: str, where: str, number: int) -> str:
    """The text under `key` of an input record (predict.text_value: null, true/false, a list or an object is an
    error; numbers are kept as written)."""
    from framework.inference.predict import text_value

    return text_value(rec[key], key, f"{where}, example {number}")


# ---------------------------------------------------------------- predict


@_terminable
def predict(args: list[str], ctx) -> int:
    """nlpf predict ckpt=PATH input=FILE|- [output=FILE] [batch_size=32] [format=auto] ..."""
    from framework.inference.predict import detect_format, numbered_records, open_input

    a: PredictArgs = parse_args(PredictArgs, args)
    check_output(a.output, a.input)
    fmt = detect_format(a.input, a.format)
    stream = open_input(a.input)
    pipe = _load(a)
    where = "standard input" if a.input == "-" else a.input
    # each record with its line, so that an error about an example names the file and line
    for_records, for_names = tee(numbered_records(stream, fmt, a.text_field, where=a.input or "input"))
    records = (rec for _, rec in for_records)
    names = (f"{where}, line {line}" for line, _ in for_names)
    options = dict(max_length=a.max_length, top_k=a.top_k, max_answer_length=a.max_answer_length,
                   text_field=a.text_field, pair_field=a.pair_field, question_field=a.question_field,
                   context_field=a.context_field, threshold=a.threshold)
    count = 0
    with stream, output_stream(a.output, a.input) as out:
        for result in pipe.predict_stream(records, batch_size=a.batch_size, chunk_size=a.chunk_size,
                                          record_names=names, **options):
            out.write(_jsonl(result))
            count += 1
    _report(count, "predictions", a)
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


def _not_seq2seq(ckpt: str, pipe) -> NlpfError:
    """`nlpf translate` on another kind of checkpoint: say what it is, and which command fits it."""
    from framework.inference.api import _TASK_WORDS, BARE_ENCODER_HINT

    task = pipe.task
    what = _TASK_WORDS.get(task, task)
    if pipe.kind not in what:
        what += f" ({'an' if pipe.kind[0] in 'aeiou' else 'a'} {pipe.kind} model)"
    hint = {"lm": "use `nlpf generate` to continue text with a decoder language model",
            "encoder": BARE_ENCODER_HINT,
            "mlm": "use `nlpf predict` to fill in its mask token, or `nlpf score`"}.get(
        task, "use `nlpf predict` to label texts with it")
    return NlpfError(f"`nlpf translate` needs an encoder-decoder (seq2seq, such as T5) checkpoint; '{ckpt}' is {what}",
                     hint=hint)


def _run_generation(a: GenerateArgs, require: Optional[str]) -> int:
    from framework.inference.generation import resolve_options, strategy_of
    from framework.inference.predict import chunks, open_input

    options = _generation_options(a)
    o = resolve_options(**options)  # check options before loading the model
    check_output(a.output, a.input)
    # input mistakes are reported before the (slow) model load
    if (a.prompt is None) == (a.input is None):
        next(_prompts(a))  # raises "nothing to generate from" or "both prompt= and input= given"
    if a.input not in (None, "-"):
        open_input(a.input).close()
    pipe = _load(a)
    if require == "seq2seq" and pipe.kind != "encoder-decoder":
        raise _not_seq2seq(a.ckpt, pipe)
    stream = (a.stream and a.prompt is not None and a.output is None and strategy_of(o) != "beam"
              and o.num_return_sequences == 1)
    on_text = (lambda piece: (sys.stdout.write(piece), sys.stdout.flush())) if stream else None
    number = 0  # of the prompt
    with output_stream(a.output, a.input) as out:
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
    _report(number, "generations" if a.prompt is None else "generation", a)
    return 0


def _generate_args(args: list[str]) -> GenerateArgs:
    from framework.inference.generation import check_transformers_names

    check_transformers_names(a.partition("=")[0] for a in args)  # before the generic "did you mean"
    return parse_args(GenerateArgs, args)


@_terminable
def generate(args: list[str], ctx) -> int:
    """nlpf generate ckpt=PATH prompt=TEXT|input=FILE [num_beams=4 do_sample=true temperature=0.8 ...]"""
    return _run_generation(_generate_args(args), require=None)


@_terminable
def translate(args: list[str], ctx) -> int:
    """nlpf translate ckpt=PATH prompt=TEXT|input=FILE [num_beams=4 ...]: generation on a seq2seq checkpoint."""
    return _run_generation(_generate_args(args), require="seq2seq")


# ---------------------------------------------------------------- score


def _check_score_options(a: ScoreArgs, given: set[str]) -> None:
    """Refuse options the chosen mode would ignore (as `nlpf evaluate` refuses decoding options)."""
    unused = sorted(given & ({"tokens"} if a.nbest else {"lm_weight", "length_bonus"}))
    if not unused:
        return
    names = ", ".join(f"{k}=" for k in unused)
    if a.nbest:
        raise NlpfError(f"{names} is for scoring texts; n-best rescoring (nbest=true) does not use it",
                        hint="drop tokens=, or score the texts without nbest=true")
    raise NlpfError(f"{names} only {'applies' if len(unused) == 1 else 'apply'} to n-best rescoring (nbest=true)",
                    hint="add nbest=true to rescore an n-best list (a 'hypotheses' list a line), or drop "
                         + ("it" if len(unused) == 1 else "them"))


@_terminable
def score(args: list[str], ctx) -> int:
    """nlpf score ckpt=PATH input=FILE [nbest=true lm_weight=0.5 length_bonus=0.0 tokens=true eos=true|false]"""
    from framework.inference.predict import _decoded, chunks, open_input
    from framework.inference.scoring import read_nbest

    a: ScoreArgs = parse_args(ScoreArgs, args)
    _check_score_options(a, _given(args))
    check_output(a.output, a.input)
    stream = open_input(a.input)
    pipe = _load(a)
    count = 0
    with stream, output_stream(a.output, a.input) as out:
        if a.nbest:
            where = a.input or "input"
            for block in chunks(read_nbest(_decoded(stream, where), where=where), 64):
                for item in pipe.rescore(block, lm_weight=a.lm_weight, length_bonus=a.length_bonus,
                                         batch_size=a.batch_size, eos=a.eos):
                    out.write(_jsonl(item))
                    count += 1
        else:
            count = _score_texts(a, pipe, stream, out)
    _report(count, "rescored n-best lists" if a.nbest else "scores", a)
    return 0


def _score_texts(a: ScoreArgs, pipe, stream: TextIO, out: TextIO) -> int:
    """Score each text (or target given its source) of `stream` into `out`; the number of examples."""
    from framework.inference.predict import chunks, detect_format, read_records

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
    return number


# ---------------------------------------------------------------- embed


@_terminable
def embed(args: list[str], ctx) -> int:
    """nlpf embed ckpt=PATH input=FILE|- [output=FILE] [pooling=mean normalize=true batch_size=32]"""
    from framework.inference.predict import chunks, detect_format, open_input, read_records

    a: EmbedArgs = parse_args(EmbedArgs, args)
    check_output(a.output, a.input)
    fmt = detect_format(a.input, a.format)
    stream = open_input(a.input)
    pipe = _load(a)
    count = 0
    with stream, output_stream(a.output, a.input) as out:
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
    _report(count, "embeddings", a)
    return 0
