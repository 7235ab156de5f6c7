"""User-facing errors: one message naming what is wrong and how to fix it."""
from __future__ import annotations

import difflib
import re
from typing import Iterable


class NlpfError(Exception):
    """An error caused by user input. The CLI prints it without a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class ConfigError(NlpfError):
    """A composed config that does not match the registered schemas."""


class RegistryError(NlpfError):
    """An unknown name or a conflicting registration."""


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Close matches for `name` among `candidates` (case-insensitive). When no whole name is close, a name
    close to a family prefix suggests that family: 'bret' -> bert_base, bert_large, bert_tiny."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if hits:  # keep the near-best only: a shared suffix alone ('_tiny') makes weak matches
        ratio = {h: difflib.SequenceMatcher(None, name.lower(), h).ratio() for h in hits}
        hits = [h for h in hits if ratio[h] >= ratio[hits[0]] - 0.1]
    else:
        families: dict[str, list[str]] = {}
        for c in sorted(lowered):
            families.setdefault(re.split(r"[_.-]", c)[0], []).append(c)
        family = difflib.get_close_matches(name.lower(), [f for f in families if len(f) > 1], n=1, cutoff=0.6)
        hits = families[family[0]][:n] if family else []
    return [lowered[h] for h in hits]


def did_you_mean(name: str, candidates: Iterable[str], prefix: str = "") -> str:
    """' Did you mean 'x'?' or '' when nothing is close; `prefix` is put before each suggestion
    ('trainer.' for a key under trainer)."""
    hits = suggest(name, candidates)
    if not hits:
        return ""
    quoted = [repr(prefix + h) for h in hits]
    return " Did you mean " + (", ".join(quoted[:-1]) + " or " if len(quoted) > 1 else "") + quoted[-1] + "?"
