"""`nlpf list`, `nlpf plugins` and `nlpf config`: answered from plugin metadata and config dataclasses,
without importing torch."""
from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

from framework.errors import NlpfError, did_you_mean
from framework.registry import Registries


def _fmt_default(value: object) -> str:
    return "null" if value is None else str(value)


def render_components(kind: str | None, fmt: str, distribution: str | None = None) -> str:
    """The registered components of one kind (or all), optionally only those of one pip distribution."""
    from framework.plugins import registries

    regs = registries()
    kinds = [kind] if kind else list(Registries.KINDS)

    def entries(k):
        return [e for e in regs[k] if distribution is None or e.origin.distribution == distribution]
    if fmt == "json":
        data = {
            k: [
                {
                    "name": e.name,
                    "kind": e.kind,
                    "accepts": list(e.accepts),
                    "origin": {"distribution": e.origin.distribution, "version": e.origin.version, "plugin": e.origin.plugin},
                    "description": e.description,
                    "fields": [{"name": n, "type": t, "default": d} for n, t, d in e.fields()],
                }
                for e in entries(k)
            ]
            for k in kinds
        }
        return json.dumps(data, indent=2, default=str)
    lines: list[str] = []
    for k in kinds:
        if fmt == "markdown":
            lines.append(f"## {k}\n")
        else:
            lines.append(f"{k} ({len(entries(k))})")
        for e in entries(k):
            tag = f" [{e.kind}]" if e.kind else ""
            accepts = f" accepts: {', '.join(e.accepts)}" if e.accepts else ""
            if fmt == "markdown":
                lines.append(f"### `{e.name}`{tag}\n")
                lines.append(f"From `{e.origin.distribution}` {e.origin.version} (plugin `{e.origin.plugin}`).{accepts}")
                if e.description:
                    lines.append(f"\n{e.description}")
                lines.append("\n| field | type | default |\n|---|---|---|")
                lines.extend(f"| `{n}` | `{t}` | `{_fmt_default(d)}` |" for n, t, d in e.fields())
                lines.append("")
            else:
                lines.append(f"  {e.name}{tag}  from {e.origin} ({e.origin.plugin}){accepts}")
                if e.description:
                    lines.append(f"      {e.description}")
                for n, t, d in e.fields():
                    lines.append(f"      {n}: {t} = {_fmt_default(d)}")
        if fmt != "markdown":
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def list_command(args: list[str], ctx) -> int:
    fmt, kind, distribution = "text", None, None
    it = iter(args)
    for a in it:
        if a.startswith("--format"):
            fmt = a.split("=", 1)[1] if "=" in a else next(it, "text")
        elif a.startswith("--from"):  # only the components of one pip distribution
            distribution = a.split("=", 1)[1] if "=" in a else next(it, None)
        elif kind is None:
            kind = a
        else:
            raise NlpfError(f"unexpected argument '{a}'", hint="usage: nlpf list [KIND] [--format text|markdown|json] [--from DISTRIBUTION]")
    if fmt not in ("text", "markdown", "json"):
        raise NlpfError(f"unknown format '{fmt}'." + did_you_mean(fmt, ["text", "markdown", "json"]),
                        hint="formats: text, markdown, json")
    if kind is not None:
        aliases = {"model": "architecture", "models": "architecture", "architectures": "architecture"}
        kind = aliases.get(kind, kind.rstrip("s") if kind.rstrip("s") in Registries.KINDS else kind)
        if kind not in Registries.KINDS:
            raise NlpfError(f"unknown registry '{kind}'." + did_you_mean(kind, Registries.KINDS),
                            hint=f"registries: {', '.join(Registries.KINDS)}")
    if distribution is not None:
        from framework.plugins import state

        dists = sorted({p.distribution for p in state().plugins})
        normal = {_normalized(d): d for d in dists}  # as pip compares names: Nlpf_Foo is nlpf-foo
        distribution = normal.get(_normalized(distribution), distribution)
        if distribution not in dists:
            raise NlpfError(f"no installed plugin comes from the distribution '{distribution}'."
                            + did_you_mean(distribution, dists), hint=f"plugin distributions: {', '.join(dists)}")
    sys.stdout.write(render_components(kind, fmt, distribution))
    from framework.plugins import state

    failed = [p for p in state().plugins if p.status != "ok"]
    for p in failed:
        print(f"warning: plugin '{p.name}' ({p.distribution}) {p.status}: {p.error}", file=sys.stderr)
    return 0


def plugins_command(args: list[str], ctx) -> int:
    from framework.plugins import state

    plugins = state().plugins
    if not plugins:
        print("no plugins installed (entry-point group 'nlpf.plugins')")
        return 0
    width = max(len(p.name) for p in plugins)
    for p in plugins:
        api = f"  api {p.api_version}" if p.api_version is not None else ""
        if not api and p.distribution != "nlpf" and p.status == "ok":
            api = "  api undeclared"  # a third-party plugin should say which API it was written for
        print(f"{p.name.ljust(width)}  {p.distribution} {p.version}  {p.status}{api}  ({p.value})")
        if p.error:
            print(f"{' ' * width}  error: {p.error}")
            if p.trace and ctx.debug:
                print(textwrap.indent(p.trace.rstrip(), " " * (width + 4)))
        if p.components:
            print(f"{' ' * width}  provides: {', '.join(p.components)}")
        if p.config_dirs:
            print(f"{' ' * width}  config dirs: {', '.join(p.config_dirs)}")
    if not ctx.debug and any(p.trace for p in plugins):
        print("hint: run `nlpf --debug plugins` (or set HYDRA_FULL_ERROR=1) for the full tracebacks", file=sys.stderr)
    for warning in shadowed_options(plugins):
        print(f"warning: {warning}", file=sys.stderr)
    for p in plugins:
        for d in p.config_dirs:
            if not Path(d).is_dir():
                print(f"warning: plugin '{p.name}': config dir {d} does not exist (a package installed without "
                      f"its YAML files? list them under [tool.setuptools.package-data])", file=sys.stderr)
    return 0


def shadowed_options(plugins) -> list[str]:
    """Config files of plugins that an earlier config directory already provides (Hydra takes the first)."""
    from framework.config import conf_dir

    root = conf_dir()
    owner = {p.relative_to(root).as_posix(): "nlpf's conf/" for p in root.rglob("*.yaml")}
    found = []
    for plugin in plugins:
        if plugin.status != "ok":
            continue
        for directory in map(Path, plugin.config_dirs):
            for path in sorted(directory.rglob("*.yaml")):
                rel = path.relative_to(directory).as_posix()
                if rel in owner:
                    found.append(f"plugin '{plugin.name}': config option {rel[:-5]} is shadowed by {owner[rel]} "
                                 f"(rename {path})")
                else:
                    owner[rel] = f"plugin '{plugin.name}'"
    return found


def config_command(args: list[str], ctx) -> int:
    from omegaconf import OmegaConf

    from framework import config

    cfg = config.load(args)  # validated as `nlpf train` validates it
    note = ""
    if cfg.get("init_from"):  # show the architecture and tokenizer `nlpf train` will take from the checkpoint
        from framework.training.build import adopt_checkpoint_config, checkpoint_dir
        from framework.training.pretrained import PACKAGED, PACKAGED_PREFIX, packaged_target

        name = str(cfg.init_from).removeprefix(PACKAGED_PREFIX)
        fetched = not str(cfg.init_from).startswith(PACKAGED_PREFIX) or (
            name in PACKAGED and (packaged_target(name) / "model.safetensors").is_file())
        if fetched:
            cfg, _ = adopt_checkpoint_config(cfg, checkpoint_dir(cfg.init_from), overrides=args)
            config.check_pairing(cfg)  # as `nlpf train` checks them, against the checkpoint's architecture
            config.check_max_length(cfg)
            note = f"# model and tokenizer: from init_from={cfg.init_from}\n"
        else:
            note = (f"# model and tokenizer: replaced at train time by those of init_from={cfg.init_from} "
                    "(not fetched yet; only model.dropout and model.attention_dropout apply)\n")
    sys.stdout.write(note + OmegaConf.to_yaml(cfg))
    return 0


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()

