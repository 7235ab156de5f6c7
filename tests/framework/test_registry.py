from dataclasses import dataclass

import pytest

from framework.errors import RegistryError
from framework.registry import Origin, Registries


@dataclass
class TinyConfig:
    width: int = 4
    name_hint: str = "x"


def build(cfg):
    return ("built", cfg)


A = Origin("pkg-a", "1.0", "a")
B = Origin("pkg-b", "2.0", "b")


def test_register_and_get_keeps_schema_builder_and_origin():
    regs = Registries()
    regs.architecture.register("bert", TinyConfig, build, kind="encoder", origin=A)
    entry = regs.architecture.get("bert")
    assert entry.config is TinyConfig and entry.build_fn().__wrapped__ is build
    assert entry.origin == A and entry.kind == "encoder"
    assert [f[0] for f in entry.fields()] == ["width", "name_hint"]


def test_unknown_name_suggests_close_match():
    regs = Registries()
    regs.architecture.register("bert", TinyConfig, build, kind="encoder", origin=A)
    regs.architecture.register("gpt", TinyConfig, build, kind="decoder", origin=A)
    with pytest.raises(RegistryError) as err:
        regs.architecture.get("bret")
    assert "did you mean 'bert'" in str(err.value).lower()
    assert "gpt" in err.value.hint


def test_same_name_from_two_origins_names_both():
    regs = Registries()
    regs.head.register("lm", TinyConfig, build, origin=A)
    with pytest.raises(RegistryError) as err:
        regs.head.register("lm", TinyConfig, build, origin=B)
    assert "pkg-a" in str(err.value) and "pkg-b" in str(err.value)


def test_reregistering_identical_component_is_harmless():
    regs = Registries()
    first = regs.head.register("lm", TinyConfig, build, origin=A)
    assert regs.head.register("lm", TinyConfig, build, origin=A) is first
    assert len(regs.head) == 1


def test_architecture_needs_a_known_kind_and_config_a_dataclass():
    regs = Registries()
    with pytest.raises(RegistryError, match="kind must be one of"):
        regs.architecture.register("rnn", TinyConfig, build, kind="recurrent", origin=A)
    with pytest.raises(RegistryError, match="dataclass"):
        regs.tokenizer.register("t", dict, build, origin=A)


def test_string_builder_is_imported_lazily_and_reports_failures():
    regs = Registries()
    entry = regs.data.register("ok", TinyConfig, "json:dumps", origin=A)
    import json

    assert entry.build_fn().__wrapped__ is json.dumps
    bad = regs.data.register("bad", TinyConfig, "no_such_module_xyz:build", origin=A)
    with pytest.raises(RegistryError, match="cannot import builder"):
        bad.build_fn()


def test_failed_plugins_are_named_when_a_lookup_misses():
    regs = Registries()
    regs.failed_plugins = {"lstm": "ImportError: no module named torchtext"}
    with pytest.raises(RegistryError) as err:
        regs.architecture.get("lstm")
    assert "torchtext" in err.value.hint


def test_importing_framework_registers_nothing_and_skips_torch():
    import subprocess
    import sys

    code = (
        "import sys, framework, framework.registry, framework.config, framework.cli;"
        "assert 'torch' not in sys.modules, 'torch imported';"
        "assert 'framework.plugins' not in sys.modules or framework.plugins._STATE is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_required_field_left_unset_is_named_when_the_component_is_built():
    from omegaconf import OmegaConf

    @dataclass
    class Needs:
        depth: int  # no default: OmegaConf marks it '???'

    regs = Registries()
    entry = regs.architecture.register("deep", Needs, lambda cfg: cfg.depth, kind="encoder", origin=A)
    node = OmegaConf.merge(OmegaConf.structured(Needs), {})
    with pytest.raises(RegistryError, match=r"'model.depth' is required by architecture 'deep' and is not set") as err:
        entry.build_fn()(node)
    assert err.value.hint == "set model.depth=VALUE"
    assert entry.build_fn()(OmegaConf.merge(node, {"depth": 3})) == 3
