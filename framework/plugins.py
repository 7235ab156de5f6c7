"""Discovers plugins through the `nlpf.plugins` entry-point group and lets them fill the registries.

A plugin that fails to import or to register is recorded with its error; the others still load.
"""
from __future__ import annotations

import importlib.metadata as metadata
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
    return f"{type(err).__name__}: {err}".splitlines()[0]


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
    seen, unique = set(), []
    for ep in eps:  # an editable install can expose the same distribution twice
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return sorted(unique, key=lambda e: e.name)


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
        hook_api = getattr(obj, "nlpf_api_version", None)
        try:
            api = hook_api() if callable(hook_api) else None  # undeclared: assumed current
        except Exception as err:  # noqa: BLE001
            info.status, info.error = "failed", f"nlpf_api_version() raised {_short_error(err)}"
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
                    info.config_dirs = [str(d) for d in (obj.nlpf_config_dirs() or [])]
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
