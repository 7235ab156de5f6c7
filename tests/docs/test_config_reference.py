"""docs/config-reference.md is generated from the registered schemas and must not drift from them."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_reference_is_up_to_date():
    gen = _generator()
    expected = gen.render()
    actual = gen.TARGET.read_text() if gen.TARGET.is_file() else ""
    assert actual == expected, (
        f"docs/config-reference.md is out of date with the registered schemas: run `{gen.COMMAND}` and commit it"
    )


def test_reference_covers_every_first_party_component_and_no_third_party_one():
    from framework.plugins import registries

    text = _generator().render()
    for registry in registries():
        for entry in registry:
            shown = f"#### `{entry.name}`" in text
            assert shown == (entry.origin.distribution == "nlpf"), (registry.name, entry.name)
    assert "| `trainer.max_steps` | `int` | `-1` |" in text
