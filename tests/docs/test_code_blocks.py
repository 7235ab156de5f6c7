"""Every code block in README.md, docs/*.md and examples/*/README.md is checked (conventions in docs/index.md, "Writing these pages"):

- ```python blocks run, in order, one namespace per page, in a temporary directory with a temporary cache;
  a block whose first line is `# docs: compile-only` is compiled but not run.
- ```bash / ```sh / ```shell blocks: each `nlpf ...` command names a real subcommand; `list`, `plugins` and
  `--help`/`--version` really run; `config` and `train` overrides compose and validate against the registries;
  the options of `evaluate`, `predict`, `generate`, `translate` and `score` parse into their schemas;
  `tokenizer train` overrides compose; `import`/`export` have their three arguments.
- ```text blocks that show `$ nlpf config|train ...` followed by `error: ...` (and `  hint: ...`) lines: the
  command's overrides really fail with that message and hint (`...` in a shown line matches anything).
- ```yaml and ```toml blocks parse.
- a block whose first line is `# docs: requires DIST` is checked only when that distribution is installed.
"""
from __future__ import annotations

import importlib.metadata
import io
import re
import shlex
import sys
import tomllib
import types
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from framework import cli, config

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").glob("*/README.md")])
FENCE = re.compile(r"^(```+)\s*([\w+-]*)")
SHELL = {"bash", "sh", "shell", "console"}
RUNNABLE = {"list", "plugins"}
COMPOSED = {"train", "config"}
OPTION_SCHEMAS = {"predict": "PredictArgs", "generate": "GenerateArgs", "translate": "GenerateArgs",
                  "score": "ScoreArgs"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"

    def marker(self, name: str) -> str | None:
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        match = re.match(rf"#\s*docs:\s*{name}\b\s*(.*)", first)
        return match.group(1).strip() if match else None


def blocks_of(page: Path) -> list[Block]:
    blocks, lines, current = [], page.read_text().splitlines(), None
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line)
        if current is None and match:
            current = (match.group(1), match.group(2).lower(), number, [])
        elif current is not None and line.startswith(current[0]) and not line.strip("`").strip():
            blocks.append(Block(page, current[2], current[1], "\n".join(current[3])))
            current = None
        elif current is not None:
            current[3].append(line)
    assert current is None, f"{page}: unclosed code block from line {current[2]}"
    return blocks


def installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def nlpf_commands(script: str) -> list[list[str]]:
    """The argument lists of the `nlpf` invocations in a shell snippet."""
    joined = re.sub(r"\\\n", " ", script)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        line = line[2:] if line.startswith("$ ") else line
        try:
            words = shlex.split(line, comments=True)
        except ValueError as err:
            raise AssertionError(f"cannot parse shell line {line!r}: {err}") from None
        segment: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "||", ";", "|"):
                if segment and segment[0] == "nlpf":
                    commands.append(segment[1:])
                segment = []
            else:
                segment.append(word)
    return commands


def check_nlpf(args: list[str], where: str) -> None:
    multirun = any(a in ("--multirun", "-m") for a in args)
    args = [a for a in args if a not in ("--debug", "--multirun", "-m")]
    assert args, f"{where}: bare `nlpf`"
    command, rest = args[0], args[1:]
    if command in ("--help", "-h", "--version", "help") or command in RUNNABLE:
        with redirect_stdout(io.StringIO()):
            assert cli.main(args) == 0, f"{where}: `nlpf {' '.join(args)}` failed"
        return
    assert command in cli.COMMANDS, f"{where}: `nlpf {command}` is not a command (see framework/cli.py COMMANDS)"
    if rest[:1] in (["--help"], ["-h"]):
        with redirect_stdout(io.StringIO()):
            assert cli.main(args) == 0
        return
    if command in OPTION_SCHEMAS:  # key=value options of the inference commands
        from framework.inference import options

        schema = getattr(options, OPTION_SCHEMAS[command])
        quoted = [f"{a[:-2]}='-'" if a.endswith("=-") else f"{a[:-4]}='...'" if a.endswith("=...") else a
                  for a in rest]  # `-` is stdin; `...` is how a page writes "some value"
        config.parse_into(schema, quoted, where=command)
    if command == "evaluate":
        from framework.training.commands import _parse_evaluate

        _parse_evaluate(rest)
    if command in ("import", "export"):
        from framework.hf.commands import _args

        _args(rest, command)
    if command == "tokenizer":
        assert rest[:1] == ["train"] and any(a.startswith("out=") for a in rest), f"{where}: {' '.join(args)}"
        config.compose([a for a in rest[1:] if not a.startswith("out=")])
    if command in COMPOSED:
        overrides = cli.expand_sweeps(rest)[0] if multirun else rest
        config.load(overrides, components=() if command == "config" else tuple(config.COMPONENT_GROUPS))
    if command == "plugin":
        from framework import scaffold

        assert rest[:1] == ["new"] and len(rest) >= 2, f"{where}: usage is `nlpf plugin new NAME`"
        scaffold._parse_new(rest[1:])


def shown_errors(text: str) -> list[tuple[list[str], list[str]]]:
    """(args, shown output lines) for each `$ nlpf config|train ...` line whose output starts with `error:`."""
    lines, found = text.splitlines(), []
    for i, line in enumerate(lines):
        words = shlex.split(line[2:]) if line.startswith("$ ") else []
        if words[:1] != ["nlpf"] or words[1:2] not in (["config"], ["train"]):
            continue
        output = []
        for after in lines[i + 1:]:
            if after.startswith("$ "):
                break
            output.append(after)
        if output and output[0].startswith("error:"):
            found.append((words[1:], output))
    return found


def check_shown_error(args: list[str], shown: list[str], where: str) -> None:
    from framework.errors import NlpfError

    command, overrides = args[0], args[1:]
    try:
        config.load(overrides, components=() if command == "config" else tuple(config.COMPONENT_GROUPS))
    except NlpfError as err:
        actual = [f"error: {err.message}"] + ([f"  hint: {err.hint}"] if err.hint else [])
    else:
        raise AssertionError(f"{where}: `nlpf {' '.join(args)}` is shown failing, but it composes")
    for expected, got in zip(shown, actual):
        pattern = ".*".join(re.escape(part) for part in expected.rstrip().split("..."))
        assert re.fullmatch(pattern, got), f"{where}: shown\n  {expected}\nbut nlpf says\n  {got}"


def check_block(block: Block, namespace: dict) -> None:
    if block.lang == "python":
        code = compile(block.text, block.where, "exec")
        if block.marker("compile-only") is None:
            exec(code, namespace)  # noqa: S102 - the docs are ours
    elif block.lang in SHELL:
        for args in nlpf_commands(block.text):
            check_nlpf(args, block.where)
    elif block.lang == "text":
        for args, shown in shown_errors(block.text):
            check_shown_error(args, shown, block.where)
    elif block.lang == "yaml":
        yaml.safe_load(block.text)
    elif block.lang == "toml":
        tomllib.loads(block.text)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_of_page(page, sandbox, monkeypatch):
    module = types.ModuleType("nlpf_docs_page")  # a real module, so dataclasses and pickling work in blocks
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    skipped = []
    for block in blocks_of(page):
        required = block.marker("requires")
        if required and not installed(required):
            skipped.append(f"{block.where} (needs {required})")
            continue
        try:
            check_block(block, namespace)
        except AssertionError:
            raise
        except Exception as err:  # noqa: BLE001 - report which block broke
            raise AssertionError(f"{block.where}: {type(err).__name__}: {err}") from err
    if skipped:  # the rest of the page was checked, so warn rather than skip
        warnings.warn("docs blocks not checked, their distribution is not installed: " + ", ".join(skipped))


def test_the_checker_catches_broken_commands(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nnlpf trian model=gpt_tiny\n```\n\n```bash\nnlpf train model=gpt_tinny\n```\n"
                    "```python\n# docs: compile-only\nraise SystemExit\n```\n")
    typo, bad_option, compile_only = blocks_of(page)
    with pytest.raises(AssertionError, match="not a command"):
        check_block(typo, {})
    with pytest.raises(Exception, match="gpt_tiny"):
        check_block(bad_option, {})
    check_block(compile_only, {})  # not run, so it does not exit
    with pytest.raises(Exception, match="max_new_tokens"):
        check_nlpf(["generate", "ckpt=x", "max_new_token=3"], "page.md:1")
    stale = blocks_of(_page(tmp_path, "```text\n$ nlpf train model=gpt_tinny\nerror: unknown option 'gpt_tinny' "
                                      "for config group 'model'. Did you mean 'bert'?\n```\n"))[0]
    with pytest.raises(AssertionError, match="but nlpf says"):
        check_block(stale, {})
    assert nlpf_commands("cd x && nlpf list \\\n  architecture  # all\nnlpf --debug plugins") == [
        ["list", "architecture"], ["--debug", "plugins"]]


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "shown.md"
    page.write_text(text)
    return page


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links inside code blocks are not links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # web addresses and anchors on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"
