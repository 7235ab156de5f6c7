"""Hook specifications a plugin implements. A plugin is any object (usually a module) with
functions marked by `hookimpl`, exposed through the entry-point group `nlpf.plugins`."""
from __future__ import annotations

import pluggy

PROJECT = "nlpf"
ENTRY_POINT_GROUP = "nlpf.plugins"
API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nlpf_register(registries) -> None:
    """Register components: `registries.architecture.register(name, ConfigDataclass, builder, kind=...)`.

    Keep this cheap: import config dataclasses only, and pass heavy builders as "module:function" strings.
    """


@hookspec
def nlpf_config_dirs() -> list[str]:
    """Directories holding config groups (`model/`, `data/`, ...) to put on Hydra's search path."""


@hookspec(firstresult=True)
def nlpf_api_version() -> int:
    """The nlpf plugin API version this plugin was written for (see `framework.hookspecs.API_VERSION`)."""
