"""`nlpf plugin new NAME`: write a ready-to-install third-party plugin package.

The package registers one architecture (a small GRU decoder, so the built-in `causal_lm` objective and `lm`
head train it), contributes config groups through `nlpf_config_dirs`, declares the plugin API version it was
written for, and ships a test suite that passes right after `pip install -e`.
"""
from __future__ import annotations

import importlib.util
import keyword
import re
import sys
from pathlib import Path
from string import Template

from framework import hookspecs
from framework.errors import NlpfError, did_you_mean
from framework.scaffold_templates import FILES

USAGE = "usage: nlpf plugin new NAME [--dir DIR]"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def names_for(name: str) -> dict[str, str]:
    """Distribution, module, component and class names derived from NAME ('nlpf-gru' -> module 'nlpf_gru')."""
    if not _NAME.match(name):
        raise NlpfError(
            f"invalid plugin name '{name}': use letters, digits, '-' or '_', starting with a letter",
            hint="for example: nlpf plugin new nlpf-gru",
        )
    module = name.lower().replace("-", "_")
    if keyword.iskeyword(module):
        raise NlpfError(f"invalid plugin name '{name}': '{module}' is a Python keyword", hint=f"try nlpf-{module}")
    short = module[len("nlpf_"):] if module.startswith("nlpf_") and len(module) > len("nlpf_") else module
    if importlib.util.find_spec(module) is not None:
        raise NlpfError(
            f"invalid plugin name '{name}': a module named '{module}' is already importable here",
            hint=f"pick a name that does not shadow it, for example nlpf-{short}-plugin",
        )
    if module == "nlpf" or not short.strip("_"):
        raise NlpfError(f"invalid plugin name '{name}': it would replace nlpf itself", hint="for example: nlpf plugin new nlpf-gru")
    _check_unused(short)
    klass = "".join(part.capitalize() for part in short.split("_") if part) + "Decoder"
    return {
        "dist": name.lower().replace("_", "-"),
        "module": module,
        "short": short,
        "klass": klass,
        "api_version": str(hookspecs.API_VERSION),
        "nlpf_requirement": _nlpf_requirement(),
    }


def _nlpf_requirement() -> str:
    """`nlpf>=0.1,<0.2` for nlpf 0.1.x: the plugin API may change with the minor version before 1.0."""
    import framework

    parts = framework.__version__.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return "nlpf"  # a source tree without package metadata
    major, minor = int(parts[0]), int(parts[1])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"nlpf>={major}.{minor},<{upper}"


def _check_unused(short: str) -> None:
    """The plugin name and the component name must not clash with what is installed (see docs/extending.md)."""
    from framework.plugins import state

    current = state()
    taken = {p.name: p.distribution for p in current.plugins}
    if short in taken:
        raise NlpfError(f"a plugin named '{short}' is already installed (from {taken[short]})",
                        hint=f"pick another name, for example nlpf-my-{short}")
    if short in current.registries.architecture:
        origin = current.registries.architecture.get(short).origin
        raise NlpfError(f"an architecture named '{short}' is already registered (by {origin})",
                        hint=f"pick another name, for example nlpf-my-{short}")


def generate(name: str, parent: Path) -> tuple[Path, dict[str, str]]:
    """Write the package into parent/NAME; returns its directory and the names used."""
    values = names_for(name)
    root = Path(parent) / name
    if root.exists():
        raise NlpfError(f"'{root}' already exists", hint="choose another NAME or --dir, or remove the directory")
    for rel_template, text in FILES.items():
        rel = Template(rel_template).substitute(values)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
    return root, values


def _parse_new(args: list[str]) -> tuple[str, Path]:
    name, parent = None, Path.cwd()
    it = iter(args)
    for a in it:
        if a == "--dir" or a.startswith("--dir="):
            value = a.split("=", 1)[1] if "=" in a else next(it, None)
            if not value:
                raise NlpfError("--dir needs a directory", hint=USAGE)
            parent = Path(value)
        elif a.startswith("-"):
            raise NlpfError(f"unknown option '{a}'." + did_you_mean(a, ["--dir"]), hint=USAGE)
        elif name is None:
            name = a
        else:
            raise NlpfError(f"unexpected argument '{a}'", hint=USAGE)
    if name is None:
        raise NlpfError("missing plugin NAME", hint=USAGE)
    if parent.exists() and not parent.is_dir():
        raise NlpfError(f"--dir {parent} is a file, not a directory", hint="name the directory the package goes in")
    return name, parent


def plugin_command(args: list[str], ctx) -> int:
    if not args:
        raise NlpfError("missing subcommand", hint=USAGE)
    sub, rest = args[0], args[1:]
    if sub != "new":
        raise NlpfError(f"unknown plugin subcommand '{sub}'." + did_you_mean(sub, ["new"]), hint=USAGE)
    name, parent = _parse_new(rest)
    root, v = generate(name, parent)
    print(f"created {root}")
    print(f"  architecture '{v['short']}' (decoder), config groups model/{v['short']}_tiny, "
          f"experiment/{v['short']}_demo")
    print("next:")
    print(f"  pip install -e {root}")
    print(f"  nlpf list architecture        # shows '{v['short']}' from {v['dist']}")
    print(f"  cd {root} && python -m pytest")
    print(f"  nlpf train experiment={v['short']}_demo")
    sys.stdout.flush()
    return 0
