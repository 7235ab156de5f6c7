"""Discovers plugins through the `nlpf.plugins` entry-point group and lets them fill the registries.

A plugin that fails to import or to register is recorded with its error; the others still load.
"""
from __future__ import annotations

import importlib.metadata as metadata
import os
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
    # nlpf's own plugins first, so that a third-party name clash fails the newcomer, never a built-in
    return sorted(unique, key=lambda e: (not (e.dist and e.dist.name == FIRST_PARTY), e.name))


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

    candidates: list[tuple[PluginInfo, object]] = []
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else "<unknown>"
        version = ep.dist.version if ep.dist else "0"
        info = PluginInfo(ep.name, dist, version, ep.value)
        infos.append(info)
        try:
            candidates.append((info, ep.load()))
        except Exception as err:  # noqa: BLE001 - isolate any plugin failure
            info.status, info.error = "failed", _short_error(err)
    for name, obj in (extra or {}).items():
        info = PluginInfo(name, "<runtime>", "0", repr(obj))
        infos.append(info)
        candidates.append((info, obj))

    for info, obj in candidates:
        try:
            pm.register(obj, name=info.name)
        except Exception as err:  # noqa: BLE001
            info.status, info.error = "failed", _short_error(err)
            continue
        hook_api, api = getattr(obj, "nlpf_api_version", None), None
        try:
            api = hook_api() if callable(hook_api) else None  # undeclared: assumed current
            problems = _unknown_hooks(obj)
        except Exception as err:  # noqa: BLE001
            problems = [f"nlpf_api_version() raised {_short_error(err)}"]
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
        try:
            with registries.origin(origin):
                if hasattr(obj, "nlpf_register"):
                    obj.nlpf_register(registries=registries)
                if hasattr(obj, "nlpf_config_dirs"):
                    info.config_dirs = _config_dirs(obj.nlpf_config_dirs())
        except Exception as err:  # noqa: BLE001
            info.status, info.error = "failed", _short_error(err)
            # roll back a half-registered plugin
            for reg in registries:
                for n in set(reg.names()) - before[reg.name]:
                    reg.unregister(n)
            continue
        info.components = [
            f"{reg.name}:{n}" for reg in registries for n in sorted(set(reg.names()) - before[reg.name])
        ]

    registries.failed_plugins = {i.name: i.error for i in infos if i.status != "ok"}
    return PluginState(registries, infos)


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
