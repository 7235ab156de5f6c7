"""Command options typed as text keep what the user typed: a prompt like `Translate: hello` is a string,
not a YAML mapping; other options still parse as YAML values."""
from dataclasses import dataclass, field
from typing import Optional

import pytest

from framework.config import parse_into
from framework.errors import ConfigError


@dataclass
class Args:
    prompt: Optional[str] = None
    name: str = "x"
    steps: int = 1
    stop: list = field(default_factory=list)


def test_text_values_are_verbatim():
    args = parse_into(Args, ["prompt=translate English to German: The house is ${home}.", "name=a: b",
                             "steps=3", "stop=[x,y]"])
    assert args.prompt == "translate English to German: The house is ${home}."
    assert args.name == "a: b" and args.steps == 3 and args.stop == ["x", "y"]


def test_null_still_unsets_and_dash_stays_a_dash():
    assert parse_into(Args, ["prompt=null"]).prompt is None
    assert parse_into(Args, ["prompt=-"]).prompt == "-"
    assert parse_into(Args, ["prompt='-'"]).prompt == "-"  # quoted as YAML: unquoted
    assert parse_into(Args, ['prompt="it\'s: fine"']).prompt == "it's: fine"
    assert parse_into(Args, ["prompt='a' or 'b'"]).prompt == "'a' or 'b'"


def test_misspelt_and_mistyped_options_are_still_errors():
    with pytest.raises(ConfigError, match="Did you mean 'prompt'"):
        parse_into(Args, ["promt=hi: there"])
    with pytest.raises(ConfigError, match="steps"):
        parse_into(Args, ["steps=many"])
