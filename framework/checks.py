"""Value checks for config dataclasses (torch-free).

A config dataclass checks its own values in `__post_init__` with these helpers; validation
(`framework.config.validate`) builds each node once and turns a `FieldError` into a `ConfigError` that names
the full key (`optim.lr`, `model.dropout`). Unset (None) and mandatory-but-missing ('???') values are
not checked here: they are reported where they are needed.
"""
from __future__ import annotations

from typing import Any, Iterable

from framework.errors import ConfigError, did_you_mean


class FieldError(ConfigError):
    """A bad value of one field of a config dataclass; `field` is relative to the node that holds it."""

    def __init__(self, field: str, value: Any, problem: str, hint: str | None = None):
        self.field, self.value, self.problem = field, value, problem
        super().__init__(f"invalid value {value!r} for '{field}': {problem}", hint=hint)


def _unset(value: Any) -> bool:
    return value is None or value == "???"


def _number(obj: Any, name: str) -> float | None:
    value = getattr(obj, name)
    if _unset(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, value, "expected a number", hint=f"set {name} to a number")
    return value


def at_least(obj: Any, low: float, *names: str, exclusive: bool = False) -> None:
    """Each field is >= low (> low when exclusive)."""
    for name in names:
        value = _number(obj, name)
        if value is None:
            continue
        if value < low or (exclusive and value == low):
            bound = f"> {low}" if exclusive else f">= {low}"
            raise FieldError(name, value, f"must be {bound}", hint=f"set {name} to a value {bound}")


def positive(obj: Any, *names: str) -> None:
    """Each field is > 0 (sizes, counts, learning rates, epsilons)."""
    at_least(obj, 0, *names, exclusive=True)


def in_range(obj: Any, low: float, high: float, *names: str) -> None:
    """Each field is within [low, high] (probabilities, ratios)."""
    for name in names:
        value = _number(obj, name)
        if value is not None and not low <= value <= high:
            raise FieldError(name, value, f"must be between {low} and {high}",
                             hint=f"set {name} to a value in [{low}, {high}]")


def one_of(obj: Any, name: str, choices: Iterable[Any]) -> None:
    """The field is one of `choices` (compared as strings, so YAML's 32 matches '32')."""
    value = getattr(obj, name)
    choices = [str(c) for c in choices]
    if _unset(value) or str(value) in choices:
        return
    raise FieldError(name, value, "unknown choice." + did_you_mean(str(value), choices),
                     hint=f"choose one of {', '.join(choices)}")


def divisible(obj: Any, name: str, by: str) -> None:
    """`name` is a multiple of `by` (hidden size and attention heads)."""
    value, divisor = getattr(obj, name), getattr(obj, by)
    if _unset(value) or _unset(divisor) or not divisor or value % divisor == 0:
        return
    raise FieldError(name, value, f"must be a multiple of {by}={divisor}",
                     hint=f"change {name} or {by} so that {by} divides {name}")


def weights(obj: Any, name: str) -> None:
    """A list of loss weights: at least one, each a number >= 0 (one per label is checked once labels are known)."""
    value = getattr(obj, name)
    if _unset(value):
        return
    example = f"{name}=[2.0,1.0]"
    if not isinstance(value, (list, tuple)) or not value:
        raise FieldError(name, value, "expected a non-empty list of weights",
                         hint=f"give one number >= 0 per label, e.g. {example}, or null for all 1")
    for w in value:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise FieldError(name, value, f"{w!r} is not a weight >= 0",
                             hint=f"give one number >= 0 per label, e.g. {example}")


def unique(obj: Any, name: str) -> None:
    """A list without repeated entries (label names)."""
    value = getattr(obj, name)
    if _unset(value) or not isinstance(value, (list, tuple)):
        return
    seen, repeated = set(), []
    for v in value:
        (repeated if str(v) in seen else []).append(str(v))
        seen.add(str(v))
    if repeated:
        raise FieldError(name, value, f"'{repeated[0]}' is listed twice",
                         hint=f"name each {name.rstrip('s')} once")
