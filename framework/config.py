"""Config composition (Hydra compose API, so the working directory never changes) and validation
against the registered schemas, with errors that name the key and suggest a fix."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from framework.errors import ConfigError, did_you_mean
from framework.schema import COMPONENT_GROUPS, LoraConfig, OptimConfig, RunConfig, TrainerConfig

CONFIG_NAME = "config"
EXPERIMENT_HINT = ("an experiment file must start with the line `# @package _global_` so that its keys and "
                   "`override /group: option` defaults apply to the whole config (see docs/extending.md)")
RESOLVED_NAME = "resolved.yaml"


def conf_dir() -> Path:
    """The built-in config tree: `conf/` at the repository root (shipped as `framework/conf` in a wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / f"{CONFIG_NAME}.yaml").is_file():
            return candidate
    raise ConfigError(f"cannot find the built-in config tree next to {here}", hint="reinstall nlpf")


def search_dirs() -> list[str]:
    """Config directories contributed by plugins, in plugin order."""
    from framework.plugins import state

    return state().config_dirs


def _searchpath_override() -> list[str]:
    dirs = [d for d in search_dirs() if Path(d).is_dir()]
    if not dirs:
        return []
    return ["hydra.searchpath=[" + ",".join("file://" + str(Path(d).resolve()) for d in dirs) + "]"]


def _unloaded_plugins() -> str:
    """'; not loaded (their config groups are missing): ...' when some plugin failed or is incompatible."""
    from framework.plugins import state

    bad = [p for p in state().plugins if p.status != "ok"]
    if not bad:
        return ""
    return "; plugins not loaded, so their config groups are missing: " + "; ".join(
        f"{p.name} ({p.distribution} {p.version}) {p.status}: {p.error}" for p in bad)


def _group_options(group: str) -> list[str]:
    options: set[str] = set()
    for root in [conf_dir(), *map(Path, search_dirs())]:
        options.update(p.stem for p in (root / group).glob("*.yaml"))
    return sorted(options)


def _group_names() -> set[str]:
    names: set[str] = set()
    for root in [conf_dir(), *map(Path, search_dirs())]:
        if root.is_dir():
            names.update(p.name for p in root.iterdir() if p.is_dir())
    return names


def _override_key(override: str) -> str:
    return re.split(r"[=@]", override.lstrip("+~"), maxsplit=1)[0]


def _dotted_keys(cfg: DictConfig, prefix: str = "") -> set[str]:
    """Every dotted key of a config, nested ones included."""
    keys = set()
    for k in cfg.keys():
        full = f"{prefix}{k}"
        keys.add(full)
        node = cfg._get_node(k)
        if isinstance(node, DictConfig) and not node._is_none():
            keys |= _dotted_keys(node, f"{full}.")
    return keys


def _explain_missing_key(base: DictConfig, key: str) -> tuple[str, str]:
    """(message, hint) for an override of a key the composed config lacks."""
    parent, _, leaf = key.rpartition(".")
    if parent and parent in _dotted_keys(base) and OmegaConf.select(base, parent) is None:  # a map left null
        return (f"unknown config key '{key}': '{parent}' is null",
                f"set it whole ({parent}={{{leaf}: VALUE}}) or add the key with +{key}=VALUE")
    siblings = list(OmegaConf.select(base, parent).keys()) if parent and OmegaConf.select(base, parent) is not None else list(base.keys())
    schema = _component_schema(parent, OmegaConf.select(base, parent))
    if dataclasses.is_dataclass(schema):  # fields its YAML leaves out can be set too
        fields = [f.name for f in dataclasses.fields(schema)]
        if leaf in fields:  # `~group.field` or `+group.field` of a field the option's YAML leaves out
            return (f"'{key}' is not in the composed config: the {parent} option's YAML leaves it at the default",
                    f"set it with {key}=VALUE (there is nothing to remove or add)")
        siblings += [f for f in fields if f not in siblings]
    renamed = _renamed(schema, leaf, parent)
    if renamed:
        return f"unknown config key '{key}'." + renamed, "nlpf names a setting the same in every model family (docs/models.md lists the renamed ones)"
    if not parent:  # a misspelt group (experimnt=...) is as likely as a misspelt top-level key
        siblings += sorted(_group_names())
    message = f"unknown config key '{key}'." + did_you_mean(leaf, [str(s) for s in siblings], f"{parent}." if parent else "")
    if not parent or dataclasses.is_dataclass(schema) or parent.split(".")[0] in ("trainer", "optim"):
        where = f"under '{parent}'" if parent else "at the top level"  # typed nodes: `+` adds nothing there
        return message, f"valid keys {where}: {', '.join(sorted({str(s) for s in siblings}))}"
    return message, f"use +{key}=VALUE only if you really mean to add a new key"


def _schema_only_keys(base: DictConfig, overrides: Sequence[str]) -> set[str]:
    """Keys set by plain `group.field=value` overrides that the group's YAML leaves out but the selected
    component's registered schema defines (a plugin's YAML may list only what it changes)."""
    keys = set()
    for o in overrides:
        key = _override_key(o)
        group, _, leaf = key.partition(".")
        if o[:1] in "+~" or "." in leaf or not leaf or OmegaConf.select(base, key, default=None) is not None:
            continue
        schema = _component_schema(group, OmegaConf.select(base, group))
        if dataclasses.is_dataclass(schema) and leaf in {f.name for f in dataclasses.fields(schema)}:
            keys.add(key)
    return keys


def _component_schema(group: str, node: Any) -> Any:
    """The registered config dataclass of a component node, or None."""
    if group not in COMPONENT_GROUPS or not isinstance(node, DictConfig) or "name" not in node:
        return None
    try:
        return _registry_for(group).get(str(node.name)).config
    except Exception:  # noqa: BLE001 - an unknown name is reported elsewhere
        return None


def _hf_names(schema: Any) -> dict[str, tuple[str, ...]]:
    """The schema's `hf_names` class attribute (Hugging Face field -> nlpf field or tuple of fields)."""
    names = getattr(schema, "hf_names", None) or {}
    return {old: (new,) if isinstance(new, str) else tuple(new) for old, new in names.items()}


def _renamed(schema: Any, key: str, where: str) -> str:
    """' 'hidden_dropout_prob' is Hugging Face's name: use 'model.dropout'.' when `hf_names` knows the key."""
    new = _hf_names(schema).get(key)
    return (f" '{key}' is Hugging Face's name: use " + " and ".join(f"'{_full_key(where, n)}'" for n in new) + "."
            if new else "")


def upgrade_hf_names(group: str, node: Any) -> Any:
    """Rename Hugging Face field names in a saved component node (configs written before the rename) to
    nlpf's, per the schema's `hf_names`; the first of several names for one field wins."""
    for old, new in _hf_names(_component_schema(group, node)).items():
        if old in node:
            value = node.pop(old)
            for name in new:
                if name not in node:
                    node[name] = value
    return node


def _check_override_shapes(overrides: Sequence[str]) -> None:
    """Mistakes Hydra reports in its own terms (a lexer error, 'not in struct'), named here in ours."""
    for o in overrides:
        if o.startswith("-"):
            raise ConfigError(f"unknown option '{o}'", hint="nlpf's options are --debug and --multirun; everything else is key=value")
        key, eq, value = o.partition("=")
        if eq and not key.lstrip("+~"):
            raise ConfigError(f"cannot parse override '{o}': no key before '='", hint="overrides look like key=value")
        if eq and key.lstrip("+~") in _group_names() and value.lstrip().startswith("{") and "_target_" not in value:
            group = key.lstrip("+~")
            raise ConfigError(f"'{group}' is a config group: {group}= takes an option name, not a mapping",
                              hint=f"choose an option ({group}={'|'.join(_group_options(group)[:4]) or 'NAME'}) and "
                              f"set its fields one by one: {group}.KEY=VALUE")


def compose(overrides: Sequence[str] = (), config_name: str = CONFIG_NAME) -> DictConfig:
    """Compose `conf/` plus plugin config dirs with Hydra overrides; errors become ConfigError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    overrides = list(overrides)
    _check_override_shapes(overrides)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        try:
            return hydra_compose(config_name, overrides=overrides + _searchpath_override())
        except MissingConfigException as err:
            missing = str(err.missing_cfg_file or "")
            group, _, option = missing.rpartition("/")
            if group and err.options is not None:
                raise ConfigError(
                    f"unknown option '{option}' for config group '{group}'."
                    + did_you_mean(option, err.options),
                    hint=f"available {group} options: {', '.join(sorted(err.options))}" + _unloaded_plugins(),
                ) from None
            raise ConfigError(str(err).splitlines()[0]) from None
        except OverrideParseException as err:
            raise ConfigError(f"cannot parse override: {str(err).splitlines()[0]}",
                              hint="overrides look like key=value, +new_key=value or ~key") from None
        except ConfigCompositionException as err:
            message = str(err)
            taken = re.search(r"An item is already at '([^']+)'", message)
            if taken:  # +key on a key the config has
                key = taken.group(1)
                raise ConfigError(f"'+{key}' adds a key, but '{key}' is already in the config",
                                  hint=f"write {key}=VALUE to change it (++{key}=VALUE adds or changes)") from None
            ambiguous = re.match(r"Ambiguous value for argument '([^']+)'", message)
            if ambiguous:  # key=a,b outside a sweep: say the three ways Hydra reads a comma
                key, _, value = ambiguous.group(1).partition("=")
                raise ConfigError(f"'{key}={value}' gives several values, which only a sweep takes",
                                  hint=f"add --multirun to run one job per value; write {key}=[{value}] for a "
                                  f"list, or \"{key}='{value}'\" (quoted) for text with a comma") from None
            match = re.search(r"Could not (?:override|append to|delete from config\. No match for) '([^']+)'", message)
            if match is None:
                match = re.search(r"Could not delete from config\. '([^']+)'", message)
            if match:
                key = match.group(1)
                groups = _group_names()
                groups_only = [o for o in overrides if _override_key(o) in groups]
                try:
                    base = hydra_compose(config_name, overrides=groups_only + _searchpath_override())
                except Exception:  # noqa: BLE001 - fall back to the raw message
                    base = None
                if base is not None and OmegaConf.select(base, key, default=None) is None:
                    schema_keys = _schema_only_keys(base, overrides)
                    if schema_keys:  # a field of the component's schema that its YAML leaves out: set it
                        return compose([f"++{o}" if o[:1] not in "+~" and _override_key(o) in schema_keys else o
                                        for o in overrides], config_name)
                    message, hint = _explain_missing_key(base, key)
                    raise ConfigError(message, hint=hint) from None
            cause = err.__cause__ or err
            if "@experiment." in message or message.startswith("In 'experiment/"):
                raise _experiment_error(str(cause).splitlines()[0]) from None
            raise ConfigError(str(cause).splitlines()[0],
                              hint="overrides look like key=value, +new_key=value or ~key, and only keys of the "
                              "schemas are allowed; `nlpf config` prints the composed config") from None


def _experiment_error(first_line: str) -> ConfigError:
    """An experiment file that Hydra could not apply: a misspelt group in its defaults, or a missing header."""
    if "@experiment." in first_line:  # no `# @package _global_`: Hydra put the defaults under `experiment`
        return ConfigError(first_line, hint=EXPERIMENT_HINT)
    found = re.search(r"Could not (?:override|append to) '([^']+)'", first_line)
    groups = _group_names()
    if found and found.group(1) not in groups:
        group, name = found.group(1), re.search(r"In 'experiment/([^']+)'", first_line)
        where = f"experiment '{name.group(1)}'" if name else "the experiment"
        return ConfigError(f"{where}: its defaults name the config group '{group}', which does not exist."
                           + did_you_mean(group, groups), hint=f"config groups: {', '.join(sorted(groups))}")
    if found and "No match in the defaults list" in first_line:
        group = found.group(1)
        return ConfigError(first_line, hint=f"`override /{group}: ...` replaces an option the defaults already choose; "
                           f"for a group that has none (such as a plugin's own group) write `/{group}: OPTION` "
                           f"without `override`, or check that the file starts with `# @package _global_`")
    return ConfigError(first_line, hint=EXPERIMENT_HINT)


def _registry_for(group: str):
    from framework.plugins import registries

    return registries()[COMPONENT_GROUPS[group]]


def _merge_schema(schema: Any, node: Any, where: str) -> DictConfig:
    """Merge a YAML node onto a structured schema, turning OmegaConf errors into ConfigError."""
    try:
        base = OmegaConf.structured(schema)
    except OmegaConfBaseException as err:  # the dataclass itself is wrong: a plugin author's mistake
        owner = f"{schema.__module__}.{schema.__qualname__}" if isinstance(schema, type) else repr(schema)
        problem = str(err).splitlines()[0]
        raise ConfigError(f"the config class {owner} (for '{where}') is invalid: {problem}",
                          hint="a field whose default is None needs an Optional type: `x: Optional[int] = None`"
                          if "None" in problem else "fix the field's type or default in that dataclass") from None
    try:
        return OmegaConf.merge(base, node)
    except ConfigKeyError as err:
        key = str(err.key) if err.key is not None else "?"
        full = _full_key(where, err.full_key or key)
        owner, label = _nested_schema(schema, where, (err.full_key or key).split(".")[:-1])
        names = [f.name for f in dataclasses.fields(owner)] if dataclasses.is_dataclass(owner) else []
        raise ConfigError(
            f"unknown {'argument' if where == 'argument' else 'config key'} '{full}'." + (_renamed(owner, key, label)
                                               or did_you_mean(full, [_full_key(label, n) for n in names])),
            hint=(f"valid {label}s: " if label == "argument" else f"valid keys under '{label}': ") + ", ".join(names),
        ) from None
    except ValidationError as err:
        full = _full_key(where, err.full_key) if err.full_key else where
        ref = _field_type(err)
        raise ConfigError(
            f"invalid value {err.value!r} for '{full}': expected {ref.replace('Optional[', '').rstrip(']').lower()}.",
            hint=f"write a list: {full}=[{err.value}]" if ref.startswith(("list", "List", "Optional[list"))
            and not isinstance(err.value, (list, tuple)) else f"set {full} to a value of type {ref}",
        ) from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"invalid config under '{where}': {str(err).splitlines()[0]}") from None


def _nested_schema(schema: Any, where: str, path: list[str]) -> tuple[Any, str]:
    """(the dataclass that holds a nested key, its dotted name): RunConfig + ['trainer'] -> TrainerConfig."""
    import typing

    owner, label = schema, where
    for part in path:
        try:
            sub = typing.get_type_hints(owner).get(part) if dataclasses.is_dataclass(owner) else None
        except Exception:  # noqa: BLE001 - unresolvable annotations: stay at the outer level
            sub = None
        if not dataclasses.is_dataclass(sub):
            break
        owner, label = sub, _full_key(label, part)
    return owner, label


def _full_key(where: str, key: str) -> str:
    """'model.n_layer'; top-level keys (where='config') stay bare, as the user typed them."""
    return key if where in ("config", "argument") else f"{where}.{key}"


def _field_type(err: ValidationError) -> str:
    """The declared type of the field a ValidationError is about (OmegaConf often reports Any)."""
    import typing

    ref = err.ref_type
    if dataclasses.is_dataclass(err.object_type) and err.key is not None:
        try:
            ref = typing.get_type_hints(err.object_type).get(str(err.key), ref)
        except Exception:  # noqa: BLE001 - unresolvable annotations: keep what OmegaConf said
            pass
    return ref.__name__ if isinstance(ref, type) else str(ref).replace("typing.", "")


def check_values(schema: Any, node: Any, where: str) -> None:
    """Run the schema's own value checks (`__post_init__`, see framework/checks.py) on a merged node;
    a bad value becomes a ConfigError naming the full key."""
    from framework.checks import FieldError

    if not dataclasses.is_dataclass(schema) or not hasattr(schema, "__post_init__"):
        return
    values = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    init = {f.name for f in dataclasses.fields(schema) if f.init}
    try:
        schema(**{k: v for k, v in values.items() if k in init})
    except FieldError as err:
        def qualify(text: str) -> str:  # field names in the message become full keys
            if not where:
                return text
            names = "|".join(sorted((re.escape(n) for n in init), key=len, reverse=True))
            return re.sub(rf"(?<![\w.])({names})\b", rf"{where}.\1", text)

        full = f"{where}.{err.field}" if where else err.field
        raise ConfigError(f"invalid value {err.value!r} for '{full}': {qualify(err.problem)}",
                          hint=qualify(err.hint) if err.hint else None) from None
    except ValueError as err:
        raise ConfigError(f"invalid values under '{where or 'config'}': {err}") from None
    except Exception as err:  # noqa: BLE001 - a check that broke, not a bad value: name the class that holds it
        owner = f"{schema.__module__}.{schema.__qualname__}"
        raise ConfigError(f"checking the values under '{where or 'config'}' failed in {owner}.__post_init__: "
                          f"{type(err).__name__}: {err}",
                          hint="a value check should raise framework.checks.FieldError or ValueError; the helpers "
                          "take the config object first: checks.positive(self, 'hidden_size')") from None


def validate_component(group: str, node: Any) -> DictConfig:
    """Validate one component node (`name` plus its fields) against its registered dataclass."""
    if node is None:
        raise ConfigError(f"'{group}' is not set.", hint=f"choose one: {group}={'|'.join(_group_options(group)) or '...'}")
    if not isinstance(node, DictConfig) or "name" not in node:
        raise ConfigError(f"'{group}' must be a mapping with a 'name' key naming a registered {COMPONENT_GROUPS[group]}")
    entry = _registry_for(group).get(str(node.name))
    body = OmegaConf.masked_copy(node, [k for k in node.keys() if k != "name"])
    merged = _merge_schema(entry.config, body, group)
    check_values(entry.config, merged, group)
    result = OmegaConf.create({"name": entry.name})
    return OmegaConf.merge(result, OmegaConf.create(OmegaConf.to_container(merged, resolve=True)))


def check_pairing(cfg: DictConfig) -> None:
    """An objective or head must accept the architecture's kind, and the head must give what the objective needs."""
    from framework.plugins import registries

    regs = registries()
    arch = regs.architecture.get(cfg.model.name)
    for group in ("objective", "head"):
        node = cfg.get(group)
        if node is None:
            continue
        entry = regs[group].get(node.name)
        if entry.accepts and arch.kind not in entry.accepts:
            raise ConfigError(
                f"{group} '{entry.name}' does not work with architecture '{arch.name}' ({arch.kind}); "
                f"it accepts {', '.join(entry.accepts)} models.",
                hint=f"pick {_a(group)} that accepts {arch.kind} models, or {_a('/'.join(entry.accepts))} model",
            )
    if cfg.get("objective") is not None and cfg.get("head") is not None:
        _check_head_output(regs, cfg.objective.name, cfg.head.name)


_OUTPUT_WORDS = {"vocabulary": "vocabulary logits", "sequence_labels": "one label per sequence",
                 "token_labels": "one label per token", "qa_spans": "answer-span logits"}


def _check_head_output(regs, objective_name: str, head_name: str) -> None:
    """The objective's `head_output` must be the head's `output`, where both declare one."""
    need = getattr(regs.objective.get(objective_name).config, "head_output", None)
    gives = getattr(regs.head.get(head_name).config, "output", None)
    if need is None or gives is None or need == gives:
        return
    fitting = [e.name for e in regs.head if getattr(e.config, "output", None) == need]
    raise ConfigError(
        f"objective '{objective_name}' needs a head that gives {_OUTPUT_WORDS.get(need, need)}, but head "
        f"'{head_name}' gives {_OUTPUT_WORDS.get(gives, gives)}.",
        hint=f"use head={'|'.join(fitting)}" if fitting else "pick a head that fits the objective",
    )


def _a(noun: str) -> str:
    """'a noun' or 'an noun', by its first letter."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def position_limit(model_node: Any) -> tuple[str, int] | None:
    """(key, size) of the model's position table, when its architecture config names one in the class
    attribute `positions_field` (learned absolute positions); None for relative positions."""
    from framework.plugins import registries

    schema = registries().architecture.get(str(model_node.name)).config
    key = getattr(schema, "positions_field", None)
    limit = model_node.get(key) if key else None
    return (key, int(limit)) if isinstance(limit, int) else None


def check_max_length(cfg: DictConfig) -> None:
    """max_length fits the model's position table."""
    found = position_limit(cfg.model)
    if found is None:
        return
    key, limit = found
    if cfg.get("max_length") is not None and int(cfg.max_length) > limit:
        raise ConfigError(
            f"max_length={cfg.max_length} is longer than the position table of the model (model.{key}={limit}).",
            hint=f"set max_length to at most {limit}, or train a model with a larger model.{key}")


def validate(cfg: DictConfig, components: Sequence[str] = tuple(COMPONENT_GROUPS)) -> DictConfig:
    """Validate a composed config; returns a new, fully resolved config."""
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot resolve config: {str(err).splitlines()[0]}",
                          hint="a ${...} interpolation names a key or resolver that does not exist; "
                          "write $${...} for a literal ${...}") from None
    raw = OmegaConf.create(container)
    known = {f.name for f in dataclasses.fields(RunConfig)}
    for key in raw.keys():
        if key == "experiment":  # an experiment file without its package line nests its keys
            raise ConfigError(f"the experiment file's keys ended up under 'experiment': {', '.join(map(str, raw.experiment.keys()))}",
                              hint=EXPERIMENT_HINT)
        if key not in known and key != "hydra":
            raise ConfigError(f"unknown config key '{key}'." + did_you_mean(str(key), known),
                              hint=f"top-level keys: {', '.join(sorted(known))}")
    out = {}
    for group in COMPONENT_GROUPS:
        node = raw.get(group)
        if group in components or node is not None:
            out[group] = validate_component(group, node)
    core = OmegaConf.masked_copy(raw, [k for k in raw.keys() if k not in COMPONENT_GROUPS and k != "hydra"])
    merged = _merge_schema(RunConfig, core, "config")
    check_values(RunConfig, merged, "")
    check_values(TrainerConfig, merged.trainer, "trainer")
    check_values(OptimConfig, merged.optim, "optim")
    check_values(LoraConfig, merged.lora, "lora")
    merged_container = OmegaConf.to_container(merged, resolve=True)
    for group, node in out.items():
        merged_container[group] = OmegaConf.to_container(node, resolve=True)
    result = OmegaConf.create(merged_container)
    if "model" in out and not result.get("init_from"):  # else the checkpoint's architecture replaces the model:
        check_pairing(result)  # checked once it is adopted (framework/training/commands.py)
        check_max_length(result)
    return result


def load(overrides: Sequence[str] = (), components: Sequence[str] = tuple(COMPONENT_GROUPS)) -> DictConfig:
    """Compose and validate."""
    cfg = compose(overrides)
    try:
        return validate(cfg, components)
    except ConfigError as err:
        raise _with_origin(err, cfg, overrides) from None


def _with_origin(err: ConfigError, cfg: DictConfig, overrides: Sequence[str]) -> ConfigError:
    """An unknown key the command line did not set came from a YAML file: say which one may have set it
    (`head=lm` on an experiment that sets `head.pooling` for its own head)."""
    found = re.match(r"unknown config key '(\w+)\.([\w.]+)'", err.message)
    if not found or any(_override_key(o) == f"{found[1]}.{found[2]}" for o in overrides):
        return err
    group = found[1]
    experiment = next((o.split("=", 1)[1] for o in overrides if _override_key(o) == "experiment"), None)
    option = next((o.split("=", 1)[1] for o in overrides if _override_key(o) == group), None)
    sources = ([f"experiment '{experiment}' ({_option_file('experiment', experiment)})"] if experiment else []) + (
        [f"the {group} option '{option}' ({_option_file(group, option)})"] if option else [f"the default {group} option"])
    where = " or ".join(sources)
    return ConfigError(f"{err.message} It is not on the command line: {where} sets it.",
                       hint=(f"{err.hint}; " if err.hint else "") + (
                           f"when changing {group}= on an experiment, also drop or replace the keys it sets for its "
                           f"own {group} (~{group}.{found[2]})" if experiment and option else "fix that YAML file"))


def _option_file(group: str, option: str) -> str:
    """Where the YAML file of a group option is: nlpf's conf/ or a plugin's config dir."""
    for root in [conf_dir(), *map(Path, search_dirs())]:
        path = root / group / f"{option}.yaml"
        if path.is_file():
            return str(path)
    return f"{group}/{option}.yaml"


def _text_fields(schema: type) -> set[str]:
    """Fields typed str or Optional[str], and fields marked `metadata={"text_or_list": True}`: their
    command-line values are taken verbatim, not parsed as YAML (a text-or-list value starting with [ is a list)."""
    import typing

    if not dataclasses.is_dataclass(schema):
        return set()
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to YAML parsing
        return set()
    text = {name for name, hint in hints.items() if hint is str or hint == typing.Optional[str]}
    return text | _text_or_list_fields(schema)


def _text_or_list_fields(schema: type) -> set[str]:
    return {f.name for f in dataclasses.fields(schema) if f.metadata.get("text_or_list")} if dataclasses.is_dataclass(schema) else set()


def parse_into(schema: type, overrides: Sequence[str], where: str = "argument") -> Any:
    """Parse `key=value` arguments (no config tree) into a dataclass, with the same error messages.

    Text fields keep their value as typed (`prompt=Translate: hello` stays a string), except `null`."""
    dotlist, verbatim = [], {}
    text = _text_fields(schema)
    lists = _text_or_list_fields(schema)
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"cannot parse {where} '{o}'", hint="arguments look like key=value")
        key, _, value = o.partition("=")
        if key in text and value not in ("null", "~") and not (key in lists and value.lstrip().startswith("[")):
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # quoted on purpose: unquote
                import yaml

                try:
                    value = str(yaml.safe_load(value))
                except yaml.YAMLError:  # 'a' and 'b': not one quoted scalar, keep it as typed
                    pass
            verbatim[key] = value.replace("${", "\\${")  # no interpolation inside user text
        else:
            dotlist.append(o)
    try:
        node = OmegaConf.from_dotlist(dotlist)
        for key, value in verbatim.items():
            node[key] = value
    except OmegaConfBaseException as err:
        raise ConfigError(f"cannot parse {where}s: {err}") from None
    merged = _merge_schema(schema, node, where)
    check_values(schema, merged, "" if where == "argument" else where)
    return OmegaConf.to_object(merged)


def freeze(cfg: DictConfig, run_dir: str | os.PathLike) -> Path:
    """Write the resolved config as plain YAML (atomically) into the run directory."""
    run_dir = Path(run_dir)
    target = run_dir / RESOLVED_NAME
    tmp = target.with_suffix(".yaml.tmp")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        os.replace(tmp, target)
    except OSError as err:
        if tmp.is_file():
            tmp.unlink()
        raise ConfigError(f"cannot write the run directory '{run_dir}': {err.strerror}",
                          hint="choose a writable run_dir=PATH (or free disk space)") from None
    return target


def load_frozen(run_dir: str | os.PathLike) -> DictConfig:
    path = Path(run_dir) / RESOLVED_NAME
    if not path.is_file():
        raise ConfigError(f"no {RESOLVED_NAME} in '{run_dir}'", hint="pass a run directory written by `nlpf train`")
    return OmegaConf.load(path)
