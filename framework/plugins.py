"""Discovers plugins through the `nlpf.plugins` entry-point group and lets them fill the registries.

A plugin that fails to import or to register is recorded with its error; the others still load.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
import traceback
import types
from dataclasses import dataclass, field

import pluggy

from framework import hookspecs
from framework.registry import Origin, Registries


@dataclass
class PluginInfo:
    name: str
    distribution: str
    version: str
    value: str
    status: str = "ok"  # ok | failed | incompatible
    error: str = ""
    api_version: object = None  # what the plugin's nlpf_api_version() returned; None: not declared
    config_dirs: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    trace: str = ""  # the full traceback of a failure, for --debug


@dataclass
class PluginState:
    registries: Registries
    plugins: list[PluginInfo]

    @property
    def config_dirs(self) -> list[str]:
        return [d for p in self.plugins if p.status == "ok" for d in p.config_dirs]


_STATE: PluginState | None = None


def _short_error(err: BaseException) -> str:
    if isinstance(err, pluggy.PluginValidationError):  # its first line names the hook, the last says what is wrong
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        return f"{lines[0]}: {lines[-1]}" if len(lines) > 1 else lines[0]
    return f"{type(err).__name__}: {err}".splitlines()[0]


FIRST_PARTY = "nlpf"
HOOK_NAMES = ("nlpf_register", "nlpf_config_dirs", "nlpf_api_version")


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
    seen, unique = set(), []
    for ep in eps:  # an editable install can expose the same distribution twice
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    # nlpf's own plugins first, so that a third-party name clash fails the newcomer, never a built-in; then by
    # distribution, so that which of two clashing third-party plugins loads never depends on sys.path order
    return sorted(unique, key=lambda e: (not (e.dist and e.dist.name == FIRST_PARTY), e.name,
                                         e.dist.name if e.dist else "", e.value))


def _code_paths(module: str) -> tuple[str, ...]:
    """The files and folders of the top-level package `module` belongs to, found without importing it."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return ()
    if spec is None:
        return ()
    paths = list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
    return tuple(os.path.abspath(p) for p in paths)


def _where(err: BaseException, paths: tuple[str, ...]) -> str:
    """'file:line' of the innermost frame of the traceback in the plugin's own code ('' when none is)."""
    inside = lambda f: any(f == p or f.startswith(p + os.sep) for p in paths)  # noqa: E731
    if isinstance(err, SyntaxError) and err.filename and inside(os.path.abspath(err.filename)):
        return f"{err.filename}:{err.lineno}"  # the bad line is in no frame
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if inside(os.path.abspath(frame.filename)):
            return f"{frame.filename}:{frame.lineno}"
    return ""


def _fail(info: PluginInfo, err: BaseException, phase: str, paths: tuple[str, ...]) -> None:
    """Mark the plugin failed, saying in which phase and where in its code, and keep the traceback for --debug."""
    where = _where(err, paths)
    info.status = "failed"
    info.error = f"{phase} failed{' at ' + where if where else ''}: {_short_error(err)}"
    info.trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))


def _clash_error(info: PluginInfo, first: PluginInfo) -> str:
    return (f"the entry point '{info.name}' of {info.distribution} {info.version} is also declared by "
            f"{first.distribution} {first.version} ({first.value}), which is loaded instead; rename the entry point "
            f"in the [project.entry-points.\"nlpf.plugins\"] table of {info.distribution}'s pyproject.toml, or "
            "uninstall one of the two")


def _unknown_hooks(obj: object) -> list[str]:
    """Misspelt hooks, which pluggy would ignore without a word: `nlpf_*` functions marked as hooks, or named
    close to one, that are not nlpf hooks."""
    import difflib

    from framework.errors import did_you_mean

    problems = []
    for n in sorted(dir(obj)):
        fn = getattr(obj, n, None)
        if not n.startswith("nlpf_") or n in HOOK_NAMES or not callable(fn):
            continue
        if hasattr(fn, f"{hookspecs.PROJECT}_impl") or difflib.get_close_matches(n, HOOK_NAMES, cutoff=0.85):
            problems.append(f"'{n}' is not an nlpf hook." + did_you_mean(n, HOOK_NAMES))
    return problems


def _config_dirs(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(d, (str, os.PathLike)) for d in value):
        raise TypeError(f"nlpf_config_dirs() must return a list of directory paths, got {value!r}")
    return [str(d) for d in value]


def load_plugins(extra: dict[str, object] | None = None) -> PluginState:
    """Load every installed plugin (plus `extra` objects, for tests) into fresh registries."""
    registries = Registries()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []

    candidates: list[tuple[PluginInfo, object, tuple[str, ...]]] = []
    claimed: dict[str, PluginInfo] = {}  # entry-point name -> the plugin that has it (pluggy needs unique names)

    def claim(info: PluginInfo) -> bool:
        first = claimed.setdefault(info.name, info)
        if first is not info:
            info.status, info.error = "failed", _clash_error(info, first)
        return first is info

    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else "<unknown>"
        version = ep.dist.version if ep.dist else "0"
        info = PluginInfo(ep.name, dist, version, ep.value)
        infos.append(info)
        if not claim(info):
            continue
        paths = _code_paths(ep.module)
        try:
            candidates.append((info, ep.load(), paths))
        except Exception as err:  # noqa: BLE001 - isolate any plugin failure
            _fail(info, err, f"importing module '{ep.module}'", paths)
    for name, obj in (extra or {}).items():
        info = PluginInfo(name, "<runtime>", "0", repr(obj))
        infos.append(info)
        if claim(info):
            module = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
            candidates.append((info, obj, _code_paths(module)))

    for info, obj, paths in candidates:
        try:
            pm.register(obj, name=info.name)
        except Exception as err:  # noqa: BLE001
            info.status, info.error = "failed", _short_error(err)
            continue
        hook_api, api = getattr(obj, "nlpf_api_version", None), None
        try:
            api = hook_api() if callable(hook_api) else None  # undeclared: assumed current
        except Exception as err:  # noqa: BLE001
            _fail(info, err, "calling its nlpf_api_version hook", paths)
            pm.unregister(obj)
            continue
        problems = _unknown_hooks(obj)
        if api is not None and (not isinstance(api, int) or isinstance(api, bool)):
            problems.append(f"nlpf_api_version() must return an int such as {hookspecs.API_VERSION}, got {api!r}")
        if problems:
            info.status, info.error = "failed", " ".join(problems)
            pm.unregister(obj)
            continue
        info.api_version = api
        if api is not None and api != hookspecs.API_VERSION:
            info.status = "incompatible"
            newer = isinstance(api, int) and api > hookspecs.API_VERSION
            info.error = (
                f"written for nlpf plugin API {api}, this nlpf provides API {hookspecs.API_VERSION}; "
                + (f"upgrade nlpf, or install a {info.distribution} release made for API {hookspecs.API_VERSION}"
                   if newer else f"upgrade {info.distribution} to a release made for API {hookspecs.API_VERSION}")
            )
            pm.unregister(obj)
            continue
        origin = Origin(info.distribution, info.version, info.name)
        before = {r.name: set(r.names()) for r in registries}
        phase = "calling its nlpf_register hook"
        try:
            with registries.origin(origin):
                if hasattr(obj, "nlpf_register"):
                    obj.nlpf_register(registries=registries)
                phase = "calling its nlpf_config_dirs hook"
                if hasattr(obj, "nlpf_config_dirs"):
                    info.config_dirs = _config_dirs(obj.nlpf_config_dirs())
        except Exception as err:  # noqa: BLE001
            _fail(info, err, phase, paths)
            # roll back a half-registered plugin
            for reg in registries:
                for n in set(reg.names()) - before[reg.name]:
                    reg.unregister(n)
            continue
        info.components = [
            f"{reg.name}:{n}" for reg in registries for n in sorted(set(reg.names()) - before[reg.name])
        ]

    # keyed by distribution too: two plugins may share an entry-point name
    registries.failed_plugins = {f"{i.name} ({i.distribution} {i.version})": i.error
                                 for i in infos if i.status != "ok"}
    return PluginState(registries, infos)


def code_identity(*modules: str) -> list[list[str]]:
    """[module, 'distribution version' of the plugin providing it, sha256 of its source] per module: for the keys
    of caches that plugin code fills, so that upgrading or editing the plugin (an editable install keeps its
    version) is never answered from a stale cache."""
    tops = {p.value.split(":")[0].split(".")[0]: f"{p.distribution} {p.version}" for p in state().plugins}
    identity = []
    for name in dict.fromkeys(modules):
        path = getattr(sys.modules.get(name), "__file__", None)
        try:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except (OSError, TypeError):  # no source file (built-in, namespace package)
            digest = ""
        identity.append([name, tops.get(name.split(".")[0], ""), digest])
    return identity


def state() -> PluginState:
    """The process-wide plugin state, loaded on first use."""
    global _STATE
    if _STATE is None:
        _STATE = load_plugins()
    return _STATE


def registries() -> Registries:
    return state().registries


def reset() -> None:
    """Forget loaded plugins (tests)."""
    global _STATE
    _STATE = None
