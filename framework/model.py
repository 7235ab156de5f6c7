"""A task model: a registered backbone plus a registered head, built from the run config."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from framework.errors import ConfigError
from framework.modules import BackboneOutput


@dataclass
class ModelOutput:
    """logits: head output (None without a head); the rest passes through from the backbone
    (for encoder-decoders `hidden_states` are the decoder's and `encoder_hidden_states` the encoder's)."""

    logits: Optional[torch.Tensor]
    last_hidden_state: torch.Tensor
    hidden_states: Optional[tuple[torch.Tensor, ...]] = None
    past_key_values: Optional[tuple] = None
    encoder_last_hidden_state: Optional[torch.Tensor] = None
    encoder_hidden_states: Optional[tuple[torch.Tensor, ...]] = None


class TaskModel(nn.Module):
    def __init__(self, backbone: nn.Module, head: Optional[nn.Module] = None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.kind = backbone.kind
        self._takes_positions = "position_ids" in inspect.signature(backbone.forward).parameters

    def _finish(self, out: BackboneOutput, mask: Optional[torch.Tensor]) -> ModelOutput:
        if not isinstance(out, BackboneOutput) and not hasattr(out, "last_hidden_state"):
            raise ConfigError(f"{type(self.backbone).__name__}.forward returned {type(out).__name__}; an architecture "
                              "returns framework.modules.BackboneOutput(last_hidden_state, ...)",
                              hint="docs/extending.md, 'What each builder receives and returns'")
        logits = self.head(out.last_hidden_state, mask) if self.head is not None else None
        return ModelOutput(logits, out.last_hidden_state, out.hidden_states, out.past_key_values,
                           out.encoder_last_hidden_state, getattr(out, "encoder_hidden_states", None))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, decoder_input_ids=None,
                decoder_attention_mask=None, past_key_values=None, use_cache=False, output_hidden_states=False,
                position_ids=None) -> ModelOutput:
        """Run the backbone for its kind, then the head on the last hidden state."""
        if self.kind == "encoder":
            out = self.backbone(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                output_hidden_states=output_hidden_states)
            return self._finish(out, attention_mask)
        if self.kind == "decoder":
            extra = {"position_ids": position_ids} if position_ids is not None and self._takes_positions else {}
            out = self.backbone(input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                                use_cache=use_cache, output_hidden_states=output_hidden_states, **extra)
            if attention_mask is not None and attention_mask.shape[1] != input_ids.shape[1]:
                attention_mask = attention_mask[:, -input_ids.shape[1]:]  # the cached part has no logits
            return self._finish(out, attention_mask)
        out = self.backbone(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                            decoder_attention_mask=decoder_attention_mask, past_key_values=past_key_values,
                            use_cache=use_cache, output_hidden_states=output_hidden_states)
        return self._finish(out, decoder_attention_mask)

    # encoder-decoder passthroughs, so generation can run the encoder once
    def encode(self, input_ids, attention_mask=None, output_hidden_states=False) -> BackboneOutput:
        return self.backbone.encode(input_ids, attention_mask=attention_mask,
                                    output_hidden_states=output_hidden_states)

    def decode(self, decoder_input_ids, encoder_hidden_states, encoder_attention_mask=None,
               decoder_attention_mask=None, past_key_values=None, use_cache=False,
               output_hidden_states=False) -> ModelOutput:
        out = self.backbone.decode(decoder_input_ids, encoder_hidden_states,
                                   encoder_attention_mask=encoder_attention_mask,
                                   decoder_attention_mask=decoder_attention_mask, past_key_values=past_key_values,
                                   use_cache=use_cache, output_hidden_states=output_hidden_states)
        return self._finish(out, None)


def _node(cfg: Any, key: str) -> Optional[DictConfig]:
    """A validated copy of a component node (defaults filled in, unknown keys refused)."""
    from framework.config import validate_component

    node = cfg.get(key) if isinstance(cfg, (DictConfig, dict)) else getattr(cfg, key, None)
    if node is None:
        return None
    return validate_component(key, OmegaConf.create(OmegaConf.to_container(node, resolve=True)
                                                     if isinstance(node, DictConfig) else node))


def takes_output_mask(backbone) -> bool:
    """Can the backbone run its last layer at chosen positions only (`forward(..., output_mask=[B, L] bool)`)?"""
    return "output_mask" in inspect.signature(backbone.forward).parameters


def logits_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """An encoder's `model(...).logits[chosen]` ([N, V], row-major order), with the head run at the chosen
    positions only, and the backbone's last layer too where it can (masked-LM scoring and fill-mask)."""
    backbone, head = getattr(model, "backbone", None), getattr(model, "head", None)
    if head is not None and takes_output_mask(backbone):
        return head(backbone(input_ids, attention_mask=attention_mask, output_mask=chosen).last_hidden_state)
    return model(input_ids=input_ids, attention_mask=attention_mask).logits[chosen]


def build_model(cfg: Any, vocab_size: Optional[int] = None, num_labels: Optional[int] = None,
                init: bool = True) -> TaskModel:
    """Build backbone (cfg.model) and head (cfg.head, optional) through the registries.

    vocab_size: the tokenizer's vocabulary size, used when cfg.model.vocab_size is null.
    num_labels: for classification heads; defaults to len(cfg.labels) when the config records labels.
    init: initialise the weights for training from scratch (the backbone's own `init_weights()`, else
        normal(0, 0.02) as in BERT and GPT-2); False leaves torch's defaults, for weights loaded right after.
    """
    from framework.plugins import registries

    regs = registries()
    model_node = _node(cfg, "model")
    if model_node is None:
        raise ConfigError("the config has no 'model' node", hint="choose one: model=gpt_tiny, model=bert_tiny, ...")
    if "vocab_size" in model_node:
        if model_node.vocab_size is None:
            if vocab_size is None:
                raise ConfigError("model.vocab_size is null and no tokenizer vocabulary size was given",
                                  hint="set model.vocab_size=N or build the model together with its tokenizer")
            model_node.vocab_size = int(vocab_size)
        elif vocab_size is not None and vocab_size > model_node.vocab_size:
            raise ConfigError(
                f"the tokenizer has {vocab_size} tokens but model.vocab_size is {model_node.vocab_size}",
                hint=f"set model.vocab_size={vocab_size} (or null to take it from the tokenizer)")
    arch = regs.architecture.get(str(model_node.name))
    backbone = _checked(arch, call_builder(arch, model_node), kind=arch.kind)
    head_node = _node(cfg, "head")
    head = None
    if head_node is not None:
        labels = cfg.get("labels") if hasattr(cfg, "get") else None
        if num_labels is None and labels:
            num_labels = len(labels)
        entry = regs.head.get(str(head_node.name))
        head = _checked(entry, call_builder(entry, head_node, backbone, num_labels=num_labels))
    model = TaskModel(backbone, head)
    if init:
        from framework.training.init import init_weights

        init_weights(model)
    return model


# how nlpf calls the builder of each registry (docs/extending.md, 'What each builder receives and returns')
BUILDER_CALLS = {"tokenizer": "build(cfg)", "architecture": "build(cfg)", "data": "build(cfg)",
                 "head": "build(cfg, backbone, num_labels=None)", "objective": "build(cfg, tokenizer)"}


def component(entry) -> str:
    """"head 'x' from nlpf-foo 1.0": how errors about a plugin's component name it."""
    return f"{entry.registry} '{entry.name}' from {entry.origin}"


def call_builder(entry, *args: Any, **kwargs: Any) -> Any:
    """Call a registered builder, first checking that it takes the arguments nlpf passes: a builder written
    with other parameters is named as the plugin's mistake, not a TypeError from inside nlpf."""
    fn = entry.build_fn()
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as err:
        name = getattr(fn, "__qualname__", repr(fn))
        raise ConfigError(
            f"{component(entry)}: its builder {name}{inspect.signature(fn)} cannot be called as nlpf calls a "
            f"{entry.registry} builder, {BUILDER_CALLS.get(entry.registry, 'build(cfg)')}: {err}",
            hint=f"give {name} those parameters (docs/extending.md, 'What each builder receives and returns')",
        ) from None
    except ValueError:  # no signature to check (a builtin)
        pass
    return fn(*args, **kwargs)


def _checked(entry, built: Any, kind: Optional[str] = None) -> nn.Module:
    """What a plugin's builder returned must be a module (and, for a backbone, of its registered kind)."""
    where = component(entry)
    if not isinstance(built, nn.Module):
        raise ConfigError(f"{where}: its builder returned {type(built).__name__}, not a torch.nn.Module",
                          hint=f"fix the builder {entry.builder!r} (docs/extending.md, 'What each builder receives "
                          "and returns')")
    if kind is not None and getattr(built, "kind", None) != kind:
        raise ConfigError(f"{where}: the module's kind is {getattr(built, 'kind', None)!r}, but it was registered "
                          f"as {kind!r}", hint="set the module's `kind` attribute to its registered kind")
    return built
