"""What a broken or clashing plugin is told, and caches that must notice a changed plugin. The plugins are real
dist-info directories put on sys.path, as in test_plugins.py."""
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from framework import plugins
from framework.errors import ConfigError, RegistryError

PARTS = """
from dataclasses import dataclass
from typing import Optional
from framework.hookspecs import hookimpl

@dataclass
class C:
    num_labels: Optional[int] = None

@hookimpl
def nlpf_register(registries):
    {body}
"""


def make_dist(root: Path, dist: str, module: str, source: str, ep: str | None = None, version: str = "1.0") -> Path:
    """A module file plus the dist-info of an installed distribution declaring it as the `ep` entry point."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[nlpf.plugins]\n{ep or module} = {module}\n")
    return root / f"{module}.py"


def registering(*lines: str) -> str:
    return PARTS.format(body="\n    ".join(lines))


@pytest.fixture(autouse=True)
def _forget_test_modules():
    """Drop the modules these tests import, so that later tests can reuse their names."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("nlpf_"):
            del sys.modules[name]


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def use_state():
    """Make a loaded plugin state the process-wide one for the code under test."""
    def use(state):
        plugins._STATE = state
        return state
    yield use
    plugins.reset()


# -- two plugins with one entry-point name --------------------------------------------------------------------

@pytest.mark.parametrize("order", ["a_first", "b_first"])
def test_an_entry_point_name_clash_fails_the_same_plugin_whatever_the_sys_path_order(tmp_path, monkeypatch, order):
    for d in ("aaa", "bbb"):
        make_dist(tmp_path / d[0], f"nlpf-{d}", f"nlpf_{d}_impl",
                  registering(f"registries.head.register('{d}_head', C, 'json:dumps')"), ep="shared")
    for d in (["b", "a"] if order == "a_first" else ["a", "b"]):  # the last prepended is searched first
        monkeypatch.syspath_prepend(str(tmp_path / d))
    state = plugins.load_plugins()
    shared = {p.distribution: p for p in state.plugins if p.name == "shared"}
    assert shared["nlpf-aaa"].status == "ok" and "aaa_head" in state.registries.head
    loser = shared["nlpf-bbb"]
    assert loser.status == "failed" and "bbb_head" not in state.registries.head
    assert "already registered" not in loser.error  # not pluggy's own words
    assert "'shared' of nlpf-bbb 1.0 is also declared by nlpf-aaa 1.0" in loser.error
    assert "rename the entry point" in loser.error
    # a failure is attributed to its own distribution
    failed = state.registries.failed_plugins
    assert "shared (nlpf-bbb 1.0)" in failed and not any(k.startswith("shared (nlpf-aaa") for k in failed)
    with pytest.raises(RegistryError) as err:
        state.registries.head.get("bbb_head")
    assert "shared (nlpf-bbb 1.0)" in err.value.hint


def test_an_entry_point_named_like_a_built_in_one_fails_the_newcomer(on_path):
    make_dist(on_path, "nlpf-newgpt", "nlpf_newgpt",
              registering("registries.head.register('newgpt_head', C, 'json:dumps')"), ep="gpt")
    state = plugins.load_plugins()
    gpt = {p.distribution: p for p in state.plugins if p.name == "gpt"}
    assert gpt["nlpf"].status == "ok" and "gpt" in state.registries.architecture
    assert gpt["nlpf-newgpt"].status == "failed" and "also declared by nlpf " in gpt["nlpf-newgpt"].error


# -- where and when a plugin failed ---------------------------------------------------------------------------

def test_an_import_failure_says_the_phase_and_the_line_in_the_plugin(on_path):
    path = make_dist(on_path, "nlpf-raises", "nlpf_raises",
                     "def setup():\n    raise RuntimeError('boom at import')\nsetup()\n")
    info = {p.name: p for p in plugins.load_plugins().plugins}["nlpf_raises"]
    assert info.status == "failed"
    assert info.error == f"importing module 'nlpf_raises' failed at {path}:2: RuntimeError: boom at import"
    assert info.trace.startswith("Traceback") and "setup()" in info.trace and "boom at import" in info.trace


def test_a_syntax_error_names_its_line(on_path):
    path = make_dist(on_path, "nlpf-syntax", "nlpf_syntax", "x = 1\ndef f(:\n    pass\n")
    info = {p.name: p for p in plugins.load_plugins().plugins}["nlpf_syntax"]
    assert info.error.startswith(f"importing module 'nlpf_syntax' failed at {path}:2: SyntaxError")


def test_a_failing_register_hook_says_the_phase_and_the_line(on_path):
    path = make_dist(on_path, "nlpf-half", "nlpf_halfdone", registering(
        "registries.head.register('halfdone_head', C, 'json:dumps')", "raise KeyError('oops')"))
    line = path.read_text().splitlines().index("    raise KeyError('oops')") + 1
    state = plugins.load_plugins()
    info = {p.name: p for p in state.plugins}["nlpf_halfdone"]
    assert info.error == f"calling its nlpf_register hook failed at {path}:{line}: KeyError: 'oops'"
    assert "halfdone_head" not in state.registries.head


def test_a_failing_config_dirs_hook_is_named(on_path):
    make_dist(on_path, "nlpf-dirs", "nlpf_dirs", "from framework.hookspecs import hookimpl\n"
              "@hookimpl\ndef nlpf_config_dirs():\n    return '/tmp/conf'\n")
    info = {p.name: p for p in plugins.load_plugins().plugins}["nlpf_dirs"]
    assert info.error.startswith("calling its nlpf_config_dirs hook failed: TypeError: nlpf_config_dirs() must return")


def test_nlpf_plugins_shows_phase_and_location_without_a_traceback(tmp_path):
    path = make_dist(tmp_path, "nlpf-raises", "nlpf_raises_cli", "raise RuntimeError('boom at import')\n")
    out = subprocess.run([sys.executable, "-m", "framework.cli", "plugins"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0
    assert f"error: importing module 'nlpf_raises_cli' failed at {path}:1: RuntimeError: boom at import" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


# -- caches keyed on plugin code ------------------------------------------------------------------------------

SOURCE_PLUGIN = """
from dataclasses import dataclass
from framework.data.source import DataSource
from framework.hookspecs import hookimpl

@dataclass
class C:
    name: str = "rows"

class Rows(DataSource):
    def read(self):
        return {"all": [{"text": "a"}, {"text": "b"}]}

@hookimpl
def nlpf_register(registries):
    registries.data.register("rows", C, "nlpf_rows:Rows")
"""


def _set_version(root: Path, version: str) -> None:
    (info,) = root.glob("*.dist-info")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: nlpf-rows\nVersion: {version}\n")


def test_the_data_fingerprint_changes_with_the_source_code_and_the_plugin_version(on_path):
    path = make_dist(on_path, "nlpf-rows", "nlpf_rows", SOURCE_PLUGIN)
    import nlpf_rows

    def fingerprint():
        plugins.reset()
        return nlpf_rows.Rows(OmegaConf.create({"name": "rows"})).fingerprint()

    first = fingerprint()
    assert fingerprint() == first  # stable while nothing changes
    path.write_text(path.read_text().replace('"b"', '"c"'))  # an editable install: same version, new code
    edited = fingerprint()
    assert edited != first
    _set_version(on_path, "1.1")  # an upgrade
    assert fingerprint() != edited


TOKENIZER_PLUGIN = """
from dataclasses import dataclass
from framework.hookspecs import hookimpl

@dataclass
class C:
    name: str = "counted"

def needs_training(cfg):
    return True

def train(cfg, corpus_file, out_dir):
    from framework.tokenizers import build_tokenizer
    return build_tokenizer({"name": "byte"})

def build(cfg):
    raise AssertionError("only trained here")

@hookimpl
def nlpf_register(registries):
    registries.tokenizer.register("counted", C, "nlpf_counted:build")
"""


def test_a_trained_tokenizer_is_retrained_when_its_plugin_changes(on_path):
    from framework.tokenizers import build_tokenizer

    path = make_dist(on_path, "nlpf-counted", "nlpf_counted", TOKENIZER_PLUGIN)
    cache = on_path / "cache"

    def trained() -> int:
        plugins.reset()
        build_tokenizer({"name": "counted"}, corpus=["some text", "more text"], cache_dir=cache)
        return len(list(cache.glob("counted-*")))

    assert trained() == 1
    assert trained() == 1  # reused
    path.write_text(path.read_text() + "# a changed trainer\n")
    assert trained() == 2
    (info,) = on_path.glob("*.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nlpf-counted\nVersion: 1.1\n")
    assert trained() == 3


# -- builder and contract mistakes found at train time --------------------------------------------------------

BROKEN_PARTS = """
import torch
from torch import nn
from dataclasses import dataclass
from typing import Optional
from framework.hookspecs import hookimpl
from plugins.objectives.base import Objective

@dataclass
class C:
    num_labels: Optional[int] = None

def build_head(cfg, backbone):  # no num_labels
    return nn.Linear(backbone.hidden_size, 2)

class NoLoss(Objective):
    task = "classification"

class PerExample(Objective):
    task = "classification"
    def loss(self, output, batch):
        return torch.nn.functional.cross_entropy(output.logits, batch["labels"], reduction="none")

@hookimpl
def nlpf_register(registries):
    registries.head.register("two_args_head", C, "nlpf_broken_parts:build_head", accepts=["encoder"])
    registries.objective.register("no_loss", C, "nlpf_broken_parts:NoLoss", accepts=["encoder"])
    registries.objective.register("per_example", C, "nlpf_broken_parts:PerExample", accepts=["encoder"])
"""

TINY_BERT = {"name": "bert", "vocab_size": 30, "hidden_size": 16, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 16}


@pytest.fixture
def broken_parts(on_path, use_state):
    make_dist(on_path, "nlpf-broken-parts", "nlpf_broken_parts", BROKEN_PARTS, version="0.2.0")
    use_state(plugins.load_plugins())
    import nlpf_broken_parts

    return nlpf_broken_parts


def test_a_head_builder_without_num_labels_is_named_with_its_plugin(broken_parts):
    from framework.model import build_model

    cfg = OmegaConf.create({"model": TINY_BERT, "head": {"name": "two_args_head"}})
    with pytest.raises(ConfigError) as err:
        build_model(cfg)
    assert str(err.value.message).startswith("head 'two_args_head' from nlpf-broken-parts 0.2.0: its builder "
                                             "build_head(cfg, backbone) cannot be called")
    assert "build(cfg, backbone, num_labels=None)" in err.value.message
    assert "unexpected keyword argument 'num_labels'" in err.value.message


def _train_module(objective_name, objective):
    from framework.training.module import TrainModule

    cfg = OmegaConf.create({"optim": {}, "trainer": {"on_nan": "raise"}, "objective": {"name": objective_name}})
    model = nn.Module()
    return TrainModule(cfg, model, objective)


def test_an_objective_without_loss_is_refused_before_training(broken_parts):
    with pytest.raises(ConfigError) as err:
        _train_module("no_loss", broken_parts.NoLoss())
    assert err.value.message == ("objective 'no_loss' from nlpf-broken-parts 0.2.0: NoLoss does not implement "
                                 "loss(output, batch)")
    with pytest.raises(NotImplementedError, match="NoLoss does not implement loss"):  # called anyway: says so
        broken_parts.NoLoss().loss(None, {})


def test_a_loss_that_is_not_a_scalar_is_named_with_its_plugin(broken_parts):
    @dataclass
    class Out:
        logits: torch.Tensor

    objective = broken_parts.PerExample()
    module = _train_module("per_example", objective)
    module.objective.forward = lambda model, batch: Out(torch.zeros(3, 2))
    with pytest.raises(ConfigError) as err:
        module._step({"input_ids": torch.zeros(3, 4, dtype=torch.long), "labels": torch.tensor([0, 1, 1])})
    assert err.value.message == ("objective 'per_example' from nlpf-broken-parts 0.2.0: PerExample.loss() returned "
                                 "a tensor of shape [3], not a scalar tensor")
    assert "losses.mean()" in err.value.hint


from tests.framework.test_plugin_errors import make_dist


def test_debug_shows_a_failed_plugins_traceback(tmp_path):
    make_dist(tmp_path, "nlpf-raises", "nlpf_raises_debug", "def setup():\n    raise RuntimeError('boom')\nsetup()\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    plain = subprocess.run([sys.executable, "-m", "framework.cli", "plugins"], capture_output=True, text=True, env=env)
    assert "Traceback" not in plain.stdout + plain.stderr and "nlpf --debug plugins" in plain.stderr
    for args, extra in ((["--debug", "plugins"], {}), (["plugins"], {"HYDRA_FULL_ERROR": "1"})):
        out = subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True,
                             env={**env, **extra})
        assert out.returncode == 0
        assert "Traceback (most recent call last)" in out.stdout and "in setup" in out.stdout, out.stdout
