"""Typed registries of components. Importing this module registers nothing and never imports torch.

An entry is a name, a config dataclass (the schema of its YAML node), a builder and the origin
(distribution and version) that registered it. Builders may be given as "module:attribute" strings
so that listing components never imports the heavy modules that build them.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from framework.errors import RegistryError, did_you_mean

ARCHITECTURE_KINDS = ("encoder", "decoder", "encoder-decoder")
CONFIG_GROUPS = {"architecture": "model"}  # the config group of a registry, where the names differ


@dataclass(frozen=True)
class Origin:
    """Where a registration came from: the distribution (pip package) and its version."""

    distribution: str
    version: str
    plugin: str = ""

    def __str__(self) -> str:
        return f"{self.distribution} {self.version}"


UNKNOWN_ORIGIN = Origin("<runtime>", "0", "<runtime>")


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    registry: str
    name: str
    config: type
    builder: Callable[..., Any] | str
    origin: Origin
    kind: str | None = None  # architecture kind, or the kinds an objective/head accepts
    accepts: tuple[str, ...] = ()
    description: str = ""

    def build_fn(self) -> Callable[..., Any]:
        """The builder (imported first when it was registered as 'module:attribute'). A required field the
        config left unset ('???') becomes an error naming the key instead of OmegaConf's MissingMandatoryValue."""
        builder = self._import_builder()

        @functools.wraps(builder)
        def build(*args: Any, **kwargs: Any) -> Any:
            from omegaconf.errors import MissingMandatoryValue

            try:
                return builder(*args, **kwargs)
            except MissingMandatoryValue as err:
                key = f"{CONFIG_GROUPS.get(self.registry, self.registry)}.{err.full_key or err.key}"
                raise RegistryError(f"'{key}' is required by {self.registry} '{self.name}' and is not set",
                                    hint=f"set {key}=VALUE") from None
        return build

    def _import_builder(self) -> Callable[..., Any]:
        if callable(self.builder):
            return self.builder
        module_name, _, attr = self.builder.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise RegistryError(
                f"{self.registry} '{self.name}' from {self.origin}: cannot import builder {self.builder!r}: {err}",
                hint=f"reinstall or fix the plugin '{self.origin.plugin}'",
            ) from err

    def fields(self) -> list[tuple[str, str, Any]]:
        """(name, type, default) for each config field."""
        rows = []
        for f in dataclasses.fields(self.config):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = "???"
            typ = f.type if isinstance(f.type, str) else (
                f.type.__name__ if isinstance(f.type, type) else str(f.type).replace("typing.", ""))
            rows.append((f.name, typ, default))
        return rows


class Registry:
    """Name -> Entry for one kind of component."""

    def __init__(self, name: str, owner: "Registries | None" = None):
        self.name = name
        self._entries: dict[str, Entry] = {}
        self._owner = owner

    def register(
        self,
        name: str,
        config: type,
        builder: Callable[..., Any] | str,
        *,
        kind: str | None = None,
        accepts: tuple[str, ...] | list[str] = (),
        description: str = "",
        origin: Origin | None = None,
    ) -> Entry:
        if not dataclasses.is_dataclass(config):
            raise RegistryError(f"{self.name} '{name}': config must be a dataclass, got {config!r}")
        if self.name == "architecture" and kind not in ARCHITECTURE_KINDS:
            raise RegistryError(
                f"architecture '{name}': kind must be one of {', '.join(ARCHITECTURE_KINDS)}, got {kind!r}"
            )
        if isinstance(accepts, str):
            raise RegistryError(f"{self.name} '{name}': accepts must be a list of architecture kinds, such as "
                                f"[{accepts!r}], not the string {accepts!r}")
        for k in accepts:
            if k not in ARCHITECTURE_KINDS:
                raise RegistryError(f"{self.name} '{name}': accepts unknown architecture kind {k!r}")
        origin = origin or (self._owner.current_origin if self._owner else UNKNOWN_ORIGIN)
        entry = Entry(self.name, name, config, builder, origin, kind, tuple(accepts), description)
        existing = self._entries.get(name)
        if existing is not None:
            if (existing.config, existing.builder, existing.origin) == (config, builder, origin):
                return existing  # re-registering the identical component is harmless
            raise RegistryError(
                f"{self.name} '{name}' is registered twice: by {existing.origin} "
                f"(plugin '{existing.origin.plugin}') and by {origin} (plugin '{origin.plugin}')",
                hint="uninstall one of the two plugins or rename one of the components",
            )
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            pass
        msg = f"unknown {self.name} '{name}'." + did_you_mean(name, self._entries)
        known = ", ".join(sorted(self._entries)) or "none"
        hint = f"registered {self.name}s: {known}"
        failed = self._owner.failed_plugins if self._owner else {}
        if failed:
            hint += "; plugins that failed to load (and may provide it): " + "; ".join(
                f"{p}: {e}" for p, e in failed.items()
            )
        raise RegistryError(msg, hint=hint)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)


class Registries:
    """The five registries, plus what the plugin manager learned while filling them."""

    KINDS = ("tokenizer", "architecture", "objective", "head", "data")

    def __init__(self) -> None:
        self.tokenizer = Registry("tokenizer", self)
        self.architecture = Registry("architecture", self)
        self.objective = Registry("objective", self)
        self.head = Registry("head", self)
        self.data = Registry("data", self)
        self.current_origin: Origin = UNKNOWN_ORIGIN
        self.failed_plugins: dict[str, str] = {}

    def __getitem__(self, kind: str) -> Registry:
        if kind not in self.KINDS:
            raise RegistryError(f"unknown registry '{kind}'." + did_you_mean(kind, self.KINDS))
        return getattr(self, kind)

    def __iter__(self) -> Iterator[Registry]:
        return (getattr(self, k) for k in self.KINDS)

    @contextmanager
    def origin(self, origin: Origin) -> Iterator[None]:
        previous, self.current_origin = self.current_origin, origin
        try:
            yield
        finally:
            self.current_origin = previous
