"""Contract checks for plugin authors: call them from your tests to learn early, with a message that says
what is wrong, whether a component keeps the contracts of docs/internals.md.

    from framework.testing import check_backbone
    check_backbone(build(cfg))

Each check raises AssertionError naming the broken rule; they use tiny inputs and run in well under a second
for small models. Torch is imported when a check runs, not when this module is imported.
"""
from __future__ import annotations

import inspect
from typing import Any

KINDS = ("encoder", "decoder", "encoder-decoder")


def _close(a, b, atol: float) -> bool:
    import torch

    return a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=atol)


def _ids(model, batch: int, length: int, generator):
    import torch

    return torch.randint(1, model.vocab_size, (batch, length), generator=generator)


def check_backbone(model, *, length: int = 6, left_padding: bool = True, atol: float = 1e-4) -> None:
    """The architecture contract: attributes, output type and shapes, hidden states; for decoders causality,
    cached decoding equal to the full pass and (unless `left_padding=False`) left-padded prompts equal to
    unpadded ones; for encoders right padding that does not change the real positions."""
    import torch
    from torch import nn

    from framework.modules.outputs import BackboneOutput

    name = type(model).__name__
    assert getattr(model, "kind", None) in KINDS, f"{name}.kind must be one of {KINDS}, got {getattr(model, 'kind', None)!r}"
    for attr in ("hidden_size", "vocab_size"):
        assert isinstance(getattr(model, attr, None), int), f"{name}.{attr} must be an int"
    embedding = model.get_input_embeddings()
    assert isinstance(embedding, nn.Embedding), f"{name}.get_input_embeddings() must return an nn.Embedding"
    assert embedding.num_embeddings >= model.vocab_size, (
        f"{name}: the input embedding has {embedding.num_embeddings} rows, fewer than vocab_size={model.vocab_size}")
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(0)
    try:
        with torch.no_grad():
            if model.kind == "encoder-decoder":
                _check_encoder_decoder(model, length, g)
                return
            ids = _ids(model, 2, length, g)
            mask = torch.ones_like(ids)
            out = model(ids, attention_mask=mask, output_hidden_states=True)
            assert isinstance(out, BackboneOutput), f"{name}.forward must return a BackboneOutput, got {type(out).__name__}"
            hidden = out.last_hidden_state
            assert hidden.shape == (2, length, model.hidden_size), (
                f"{name}: last_hidden_state has shape {tuple(hidden.shape)}, expected (2, {length}, {model.hidden_size})")
            assert isinstance(out.hidden_states, tuple) and len(out.hidden_states) >= 2, (
                f"{name}: output_hidden_states=True must give a tuple (embeddings, ..., last layer)")
            assert _close(out.hidden_states[-1], hidden, atol), f"{name}: hidden_states[-1] must be last_hidden_state"
            assert model(ids).hidden_states is None, f"{name}: hidden_states must be None unless asked for"
            if model.kind == "decoder":
                _check_decoder(model, ids, hidden, left_padding, atol, g)
            else:
                _check_encoder(model, ids, hidden, atol)
    finally:
        model.train(was_training)


def _check_decoder(model, ids, hidden, left_padding: bool, atol: float, g) -> None:
    import torch

    name = type(model).__name__
    changed = ids.clone()
    changed[:, -1] = changed[:, -1] % (model.vocab_size - 1) + 1
    later = model(changed).last_hidden_state
    assert _close(later[:, :-1], hidden[:, :-1], atol), f"{name}: a decoder must not look ahead (causality)"
    prefix = model(ids[:, :-1], attention_mask=torch.ones_like(ids[:, :-1]), use_cache=True)
    assert prefix.past_key_values is not None, f"{name}: use_cache=True must return past_key_values"
    step = model(ids[:, -1:], attention_mask=torch.ones_like(ids), past_key_values=prefix.past_key_values,
                 use_cache=True)
    assert _close(step.last_hidden_state[:, -1], hidden[:, -1], atol), (
        f"{name}: decoding the last token from the cache must equal the full forward pass")
    assert model(ids).past_key_values is None, f"{name}: past_key_values must be None unless use_cache=True"
    if left_padding:
        pad = torch.zeros(ids.shape[0], 3, dtype=ids.dtype)
        padded = torch.cat([pad, ids], dim=1)
        mask = torch.cat([torch.zeros_like(pad), torch.ones_like(ids)], dim=1)
        extra = {}
        if "position_ids" in inspect.signature(model.forward).parameters:  # as nlpf's generation passes them
            extra["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(padded, attention_mask=mask, **extra).last_hidden_state
        assert _close(out[:, -1], hidden[:, -1], atol), (
            f"{name}: a left-padded prompt (attention_mask 0 on the padding) must give the same last hidden state "
            "as the unpadded one; pass left_padding=False if your decoder does not support batched prompts")


def _check_encoder(model, ids, hidden, atol: float) -> None:
    import torch

    name = type(model).__name__
    pad = torch.zeros(ids.shape[0], 3, dtype=ids.dtype)
    padded = torch.cat([ids, pad], dim=1)
    mask = torch.cat([torch.ones_like(ids), torch.zeros_like(pad)], dim=1)
    out = model(padded, attention_mask=mask).last_hidden_state
    assert _close(out[:, :ids.shape[1]], hidden, atol), (
        f"{name}: right padding (attention_mask 0) must not change the hidden states of the real tokens")


def _check_encoder_decoder(model, length: int, g) -> None:
    import torch

    name = type(model).__name__
    ids = _ids(model, 2, length, g)
    enc = model.encode(ids, attention_mask=torch.ones_like(ids))
    assert enc.last_hidden_state.shape == (2, length, model.hidden_size), f"{name}.encode: wrong output shape"
    dec_ids = _ids(model, 2, 3, g)
    dec = model.decode(dec_ids, enc.last_hidden_state, encoder_attention_mask=torch.ones_like(ids))
    assert dec.last_hidden_state.shape == (2, 3, model.hidden_size), f"{name}.decode: wrong output shape"


def check_head(head, backbone, *, num_labels: int | None = None, per_token: bool = False) -> None:
    """A head maps [B, L, H] hidden states (and the mask) to [B, num_labels], or [B, L, num_labels] per token."""
    import torch

    name = type(head).__name__
    hidden = torch.randn(2, 5, backbone.hidden_size, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    head.eval()
    with torch.no_grad():
        logits = head(hidden, mask)
    width = num_labels if num_labels is not None else backbone.vocab_size
    expected = (2, 5, width) if per_token else (2, width)
    assert tuple(logits.shape) == expected, f"{name}: logits have shape {tuple(logits.shape)}, expected {expected}"
    assert torch.isfinite(logits[0]).all(), f"{name}: logits must be finite"


def check_tokenizer(tokenizer, texts: tuple[str, ...] = ("Hello world.", "nlpf plugins, tested!"),
                    directory: Any = None) -> None:
    """Ids inside the vocabulary, special ids distinct and inside it, and (given a directory) a save/load round
    trip through framework.tokenizers that gives the same ids and fingerprint."""
    from framework.tokenizers import Tokenizer, load_tokenizer, save_tokenizer

    name = type(tokenizer).__name__
    assert isinstance(tokenizer, Tokenizer), f"{name} must subclass framework.tokenizers.Tokenizer"
    assert isinstance(tokenizer.vocab_size, int) and tokenizer.vocab_size > 0, f"{name}.vocab_size must be a positive int"
    for special in tokenizer.special_ids:
        assert 0 <= special < tokenizer.vocab_size, f"{name}: special id {special} is outside the vocabulary"
    encodings = tokenizer.encode_batch(list(texts), with_offsets=True)
    for text, enc in zip(texts, encodings):
        assert enc.ids and all(0 <= i < tokenizer.vocab_size for i in enc.ids), f"{name}: ids of {text!r} out of range"
        assert len(enc.offsets) == len(enc.ids), f"{name}: one offset per id expected for {text!r}"
        assert tokenizer.encode(text) == enc.ids, f"{name}: encode and encode_batch disagree on {text!r}"
    plain = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    for enc in plain:
        assert not set(enc.ids) & tokenizer.special_ids - {tokenizer.unk_id}, (
            f"{name}: add_special_tokens=False must not add special tokens")
    assert isinstance(tokenizer.fingerprint(), str), f"{name}.fingerprint() must return a string"
    if directory is not None:
        save_tokenizer(tokenizer, directory)
        again = load_tokenizer(directory)
        assert [e.ids for e in again.encode_batch(list(texts))] == [e.ids for e in encodings], (
            f"{name}: a saved and reloaded tokenizer must give the same ids")
        assert again.fingerprint() == tokenizer.fingerprint(), f"{name}: fingerprint changed by save/load"


def check_data_source(source, task: str) -> None:
    """Splits are non-empty lists of examples with the keys the task needs, the same on a second read."""
    from framework.data.pipeline import REQUIRED_KEYS

    name = type(source).__name__
    assert task in REQUIRED_KEYS, f"unknown task {task!r}: one of {', '.join(REQUIRED_KEYS)}"
    splits = source.splits()
    assert "train" in splits, f"{name}.splits() must have a 'train' split, got {sorted(splits)}"
    for split, examples in splits.items():
        assert len(examples) > 0, f"{name}: the {split} split is empty"
        missing = [k for k in REQUIRED_KEYS[task] if k not in examples[0]]
        assert not missing, f"{name}: {split} examples lack {missing} for task '{task}'"
    fresh = type(source)(source.cfg).splits()
    assert fresh == splits, f"{name}: reading the data twice must give the same splits (seed everything)"
