"""The files `nlpf plugin new` writes. Paths and contents are `string.Template`s over
$dist (pip name), $module (import name), $short (component name), $klass, $api_version and
$nlpf_requirement."""

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "An nlpf plugin: the $short architecture."
requires-python = ">=3.10"
dependencies = ["$nlpf_requirement"]

# nlpf finds plugins through this entry-point group: plugin name = module holding the hooks
[project.entry-points."nlpf.plugins"]
$short = "$module"

[tool.setuptools.packages.find]
include = ["$module*"]

[tool.setuptools.package-data]
$module = ["conf/**/*.yaml"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

README = '''\
# $dist

An nlpf plugin. It registers the `$short` architecture (a small GRU
language model, kind `decoder`) and the config groups `model/${short}_tiny` and `experiment/${short}_demo`.

```bash
pip install -e .
nlpf list architecture            # shows '$short' from $dist
nlpf config model=${short}_tiny   # the composed, validated config
nlpf train experiment=${short}_demo
python -m pytest                  # this package's tests
```

Edit `$module/model.py` (the network), `$module/config.py` (its hyperparameters: every field is a
config key), and the YAML files under `$module/conf/`. The plugin API version this package was written
for is declared in `$module/__init__.py`.
'''

INIT = '''\
"""nlpf plugin $dist: the `$short` architecture and its config groups.

Keep this module cheap: nlpf imports it for `nlpf list`, so it imports only the torch-free config
dataclass and names the builder as a "module:function" string.
"""
from pathlib import Path

from framework.hookspecs import hookimpl

from $module.config import ${klass}Config

# the nlpf plugin API this package was written for (framework.hookspecs.API_VERSION)
NLPF_API_VERSION = $api_version


@hookimpl
def nlpf_api_version():
    return NLPF_API_VERSION


@hookimpl
def nlpf_register(registries):
    registries.architecture.register(
        "$short",
        ${klass}Config,
        "$module.model:build",
        kind="decoder",
        description="A GRU language model (from the $dist plugin).",
    )


@hookimpl
def nlpf_config_dirs():
    return [str(Path(__file__).parent / "conf")]
'''

CONFIG = '''\
"""Hyperparameters of the `$short` architecture: every field is a key of its `model:` config node."""
from dataclasses import dataclass
from typing import Optional


@dataclass
class ${klass}Config:
    vocab_size: Optional[int] = None  # null: the tokenizer's vocabulary size
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
'''

MODEL = '''\
"""The `$short` backbone: token embeddings, a GRU, a final layer norm.

It follows nlpf's decoder contract: `forward(input_ids, attention_mask=None, past_key_values=None,
use_cache=False, output_hidden_states=False) -> BackboneOutput`; the cache is the GRU state.
Kept simple: padding tokens go through the GRU like any other token (examples/nlpf-lstm-plugin in the
nlpf repository shows how to keep the state untouched at padded positions).
"""
from torch import nn

from framework.modules.outputs import BackboneOutput


class ${klass}(nn.Module):
    kind = "decoder"

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, hidden_size)
        self.rnn = nn.GRU(hidden_size, hidden_size, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.norm = nn.LayerNorm(hidden_size)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed

    def forward(self, input_ids, attention_mask=None, past_key_values=None, use_cache=False,
                output_hidden_states=False, **unused) -> BackboneOutput:
        embedded = self.embed(input_ids)
        # the GRU wants its state as [layers, batch, hidden]; the cache is batch-first because nlpf's
        # generation picks rows (beams) of every cached tensor along dimension 0
        state = None if past_key_values is None else past_key_values.transpose(0, 1).contiguous()
        output, state = self.rnn(embedded, state)
        hidden = self.norm(output)
        return BackboneOutput(
            last_hidden_state=hidden,
            hidden_states=(embedded, hidden) if output_hidden_states else None,
            past_key_values=state.transpose(0, 1) if use_cache else None,
        )


def build(cfg) -> ${klass}:
    """A GRU decoder.

    Args:
        cfg.vocab_size: number of token ids (nlpf fills in the tokenizer's when the config says null).
        cfg.hidden_size: width of the embeddings and of the GRU state.
        cfg.num_layers: stacked GRU layers.
        cfg.dropout: dropout between GRU layers (only when num_layers > 1).
    """
    return ${klass}(int(cfg.vocab_size), int(cfg.hidden_size), int(cfg.num_layers), float(cfg.dropout))
'''

MODEL_YAML = '''\
# nlpf model=${short}_tiny
name: $short
vocab_size: null
hidden_size: 32
num_layers: 1
'''

EXPERIMENT_YAML = '''\
# @package _global_
# nlpf train experiment=${short}_demo: a few steps of language modelling on the built-in tiny corpus
defaults:
  - override /model: ${short}_tiny
  - override /head: lm
  - override /objective: causal_lm

experiment_name: ${short}_demo
batch_size: 8
max_length: 32
trainer:
  max_steps: 20
  log_every_n_steps: 5
'''

TEST = '''\
"""Tests of the $dist plugin, run against the installed package (`pip install -e .`)."""
import torch

from framework import cli, config, plugins
from framework.testing import check_backbone


def test_plugin_is_discovered_and_compatible():
    state = plugins.load_plugins()
    info = {p.distribution: p for p in state.plugins}["$dist"]
    assert info.status == "ok", info.error
    assert "architecture:$short" in info.components


def test_config_group_composes_and_validates():
    plugins.reset()
    cfg = config.compose(["model=${short}_tiny"])
    node = config.validate_component("model", cfg.model)
    assert node.name == "$short" and node.hidden_size == 32


def _tiny_model():
    entry = plugins.load_plugins().registries.architecture.get("$short")
    cfg = config.validate_component("model", config.compose(["model=${short}_tiny", "model.vocab_size=100"]).model)
    torch.manual_seed(0)
    return entry.build_fn()(cfg).eval()


def test_backbone_keeps_the_decoder_contract():
    # output type and shapes, hidden states, causality, cached decoding; this GRU does not mask padding,
    # so batched left-padded prompts are not supported yet
    check_backbone(_tiny_model(), left_padding=False)


def test_a_few_steps_of_training_lower_the_loss():
    model = _tiny_model().train()
    head = torch.nn.Linear(model.hidden_size, model.vocab_size)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    ids = torch.randint(0, model.vocab_size, (4, 12))
    losses = []
    for _ in range(15):
        logits = head(model(ids).last_hidden_state)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, model.vocab_size), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_trains_evaluates_and_generates_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    assert cli.main(["train", "experiment=${short}_demo", f"run_dir={run_dir}", "trainer.max_steps=3",
                     "trainer.enable_progress_bar=false"]) == 0
    ckpt = run_dir / "checkpoints" / "last"
    assert (ckpt / "model.safetensors").is_file()
    assert cli.main(["evaluate", f"ckpt={ckpt}"]) == 0
    assert cli.main(["generate", f"ckpt={ckpt}", "prompt=The", "max_new_tokens=3", "stream=false"]) == 0
'''

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "$module/__init__.py": INIT,
    "$module/config.py": CONFIG,
    "$module/model.py": MODEL,
    "$module/conf/model/${short}_tiny.yaml": MODEL_YAML,
    "$module/conf/experiment/${short}_demo.yaml": EXPERIMENT_YAML,
    "tests/test_$module.py": TEST,
}
