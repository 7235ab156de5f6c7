"""The `nlpf` command. Only the chosen subcommand's module is imported, so `nlpf --help`,
`nlpf list` and `nlpf plugins` answer without importing torch."""
from __future__ import annotations

import importlib
import os
import sys
from typing import Callable, Sequence

from framework.errors import NlpfError, did_you_mean

# name -> (handler "module:function", one-line help). Handlers take (args, ctx) and return an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("framework.training.commands:train", "train a model: nlpf train experiment=NAME key=value ..."),
    "evaluate": ("framework.training.commands:evaluate", "evaluate a checkpoint: nlpf evaluate ckpt=PATH [split=test]"),
    "predict": ("framework.inference.commands:predict", "label texts: nlpf predict ckpt=PATH input=FILE|-"),
    "generate": ("framework.inference.commands:generate", "generate text: nlpf generate ckpt=PATH prompt=TEXT"),
    "translate": ("framework.inference.commands:translate", "translate with a seq2seq checkpoint"),
    "score": ("framework.inference.commands:score", "log-likelihoods, perplexity, n-best rescoring"),
    "embed": ("framework.inference.commands:embed", "sentence embeddings: nlpf embed ckpt=PATH input=FILE|-"),
    "list": ("framework.listing:list_command", "list registered components: nlpf list [KIND] [--format text|markdown|json] [--from DIST]"),
    "plugins": ("framework.listing:plugins_command", "list installed plugins, versions and load errors"),
    "config": ("framework.listing:config_command", "print the composed, validated config: nlpf config key=value ..."),
    "import": ("framework.hf.commands:import_command", "import a checkpoint: nlpf import hf SRC_DIR OUT_DIR"),
    "export": ("framework.hf.commands:export_command", "export a checkpoint: nlpf export hf CKPT_DIR OUT_DIR"),
    "tokenizer": ("framework.tokenizers.commands:tokenizer_command", "nlpf tokenizer train tokenizer=NAME data=NAME out=DIR"),
    "report": ("framework.training.report:report_command", "plot loss and metric curves: nlpf report RUN_DIR"),
    "plugin": ("framework.scaffold:plugin_command", "scaffold a plugin package: nlpf plugin new NAME [--dir DIR]"),
}

# options of a command that take a value (`--opt VALUE` or `--opt=VALUE`): a missing value is a mistake, not
# the default
VALUE_OPTIONS: dict[str, tuple[str, ...]] = {"list": ("--format", "--from")}

# options of `nlpf` itself, given before the command (--debug and --multirun anywhere)
GLOBAL_OPTIONS = ("--debug", "--multirun", "-m", "--version", "--help", "-h")

# commands whose key=value arguments are Hydra overrides of the config tree (and so may sweep)
JOB_COMMANDS = {"train", "config"}

USAGE = """usage: nlpf [--debug] [--version] COMMAND [ARGS...] [--multirun]

nlpf: a plugin-based NLP framework. Every job takes Hydra overrides (key=value, +key=value, ~key).

commands:
{commands}

options:
  --debug       show full tracebacks (also HYDRA_FULL_ERROR=1)
  --multirun    sweep: key=a,b runs one job per combination
  --version     print the nlpf version
"""


class Context:
    """What every handler gets besides its arguments."""

    def __init__(self, debug: bool, multirun: bool):
        self.debug = debug
        self.multirun = multirun
        self.job_num: int | None = None  # the job's number in a --multirun sweep


def _usage() -> str:
    width = max(map(len, COMMANDS))
    return USAGE.format(commands="\n".join(f"  {n.ljust(width)}  {h}" for n, (_, h) in COMMANDS.items()))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nlpf")
    except PackageNotFoundError:
        return "0+unknown"


def _handler(name: str) -> Callable[[list[str], Context], int]:
    target, _ = COMMANDS[name]
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as err:
        if err.name and (err.name == module or module.startswith(err.name + ".")):
            raise NlpfError(f"the '{name}' command is not available in this build of nlpf ({module} is missing)") from None
        raise


def check_option_values(command: str, args: Sequence[str]) -> None:
    """Refuse a value-taking option of `command` given without its value (last, empty, or followed by
    another option)."""
    names = VALUE_OPTIONS.get(command, ())
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if name not in names:
            continue
        if not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
        if not value or value.startswith("--"):
            usage = COMMANDS[command][1].split(": ", 1)[-1]
            raise NlpfError(f"option {name} of `nlpf {command}` needs a value", hint=f"usage: {usage}")


def expand_sweeps(overrides: Sequence[str]) -> list[list[str]]:
    """Hydra's basic-sweeper semantics: `a=1,2 b=x,y` -> the cartesian product of jobs."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as err:
        raise NlpfError(f"cannot parse override: {str(err).splitlines()[0]}",
                        hint="overrides look like key=value; a sweep is key=a,b or key=range(1,4)") from None
    choices = []
    for o in parsed:
        if o.is_sweep_override():
            key = o.get_key_element()
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(job) for job in itertools.product(*choices)]


def _check_jobs(jobs: list[list[str]]) -> None:
    """Compose and validate each job of a sweep, as its command will, so that a bad value in the last one is
    reported before hours of the first ones, naming the job."""
    from framework.config import load

    for i, job in enumerate(jobs):
        try:
            load(job)  # as both job commands (train, config) validate
        except NlpfError as err:
            raise NlpfError(f"job {i} ({' '.join(job)}): {err.message}", hint=err.hint) from None


def describe_os_error(err: OSError) -> tuple[str, str]:
    """(message, hint) for an operating-system error, naming the file."""
    import errno

    where = f" '{err.filename}'" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return (f"no space left on the device while writing{where}",
                "free disk space or write somewhere else (run_dir=PATH, out=PATH or output=PATH)")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"permission denied on{where} ({err.strerror})",
                "choose a writable location or fix the permissions")
    if err.errno == errno.ENOENT:
        return f"no such file or directory:{where}", "check the path"
    return f"{err.strerror or type(err).__name__}{':' + where if where else ''}", "run again with --debug for details"


def describe_yaml_error(err: Exception) -> str | None:
    """'cannot parse the YAML file F (line L, column C): problem' for a YAML syntax error (a config file, a
    checkpoint's config.yaml or tokenizer.yaml), else None."""
    if not type(err).__module__.startswith("yaml"):
        return None
    mark = getattr(err, "problem_mark", None)
    where = f" '{mark.name}'" if mark is not None and not str(mark.name).startswith("<") else ""
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"cannot parse the YAML file{where}{at}: {getattr(err, 'problem', None) or str(err).splitlines()[0]}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("HYDRA_FULL_ERROR") == "1"
    multirun = False
    rest: list[str] = []
    for a in args:
        if a == "--debug":
            debug = True
        elif a in ("--multirun", "-m"):
            multirun = True
        else:
            rest.append(a)
    if not rest or rest[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if rest[0] == "--version":
        print(f"nlpf {_version()}")
        return 0
    command, cmd_args = rest[0], rest[1:]
    ctx = Context(debug=debug, multirun=multirun)
    try:
        if command.startswith("-"):
            raise NlpfError(f"unknown option '{command}'." + did_you_mean(command, GLOBAL_OPTIONS),
                            hint="options: " + ", ".join(GLOBAL_OPTIONS) + "; run `nlpf --help` for more")
        if command not in COMMANDS:
            raise NlpfError(f"unknown command '{command}'." + did_you_mean(command, COMMANDS),
                            hint="run `nlpf --help` for the list of commands")
        if cmd_args and cmd_args[0] in ("-h", "--help"):
            print(f"nlpf {command}: {COMMANDS[command][1]}")
            return 0
        check_option_values(command, cmd_args)
        handler = _handler(command)
        if multirun:
            if command not in JOB_COMMANDS:
                raise NlpfError(f"--multirun works with {', '.join(sorted(JOB_COMMANDS))}, not '{command}'")
            jobs = expand_sweeps(cmd_args)
            _check_jobs(jobs)  # every job's config before the first one runs
            code = 0
            for i, job in enumerate(jobs):
                print(f"[multirun] job {i}: {' '.join(job)}", file=sys.stderr)
                ctx.job_num = i  # a job's own run directory under a shared run_dir= (nlpf train)
                code = max(code, handler(job, ctx) or 0)
            return code
        return handler(cmd_args, ctx) or 0
    except NlpfError as err:
        if debug:
            raise
        print(f"error: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"  hint: {err.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`nlpf embed ... | head`): stop quietly, as Unix tools do
        try:  # and keep the interpreter's last flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by the closed pipe
    except OSError as err:  # a full disk, a read-only or missing path: say which file and what to do
        if debug:
            raise
        message, hint = describe_os_error(err)
        print(f"error: {message}", file=sys.stderr)
        print(f"  hint: {hint}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
        if debug:
            raise
        yaml_problem = describe_yaml_error(err)
        if yaml_problem:
            print(f"error: {yaml_problem}", file=sys.stderr)
            print("  hint: fix the YAML syntax there (indentation, unclosed brackets or quotes)", file=sys.stderr)
            return 2

        first = str(err).splitlines()[0] if str(err) else ""
        print(f"error: {type(err).__name__}: {first}", file=sys.stderr)
        print("  hint: run again with --debug for the full traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
