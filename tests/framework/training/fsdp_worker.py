"""One rank of test_fsdp.py: torch FSDP on CPU processes (gloo), each TransformerLayer wrapped as Lightning's
FSDPStrategy wraps it with nlpf's policy (use_orig_params=True), exercising nlpf's own functions. Writes what it
found to OUT/rank<N>.json; the test compares."""
import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

from framework.checkpoint import _unique_state
from framework.modules import TransformerLayer
from framework.training.callbacks import load_model_weights, model_weights
from framework.training.lora import apply_lora, merged_state
from framework.training.module import clip_gradients
from framework.training.optim import decayed_names, parameter_groups, unwrapped_name
from framework.training.trainer import fsdp_wrap_policy

CLIP = 0.05


class Tiny(torch.nn.Module):
    """Embeddings, two transformer layers, a norm and an LM head tied to the embeddings."""

    def __init__(self):
        super().__init__()
        self.embeddings = torch.nn.Embedding(50, 16)
        self.layers = torch.nn.ModuleList([TransformerLayer(16, 2, 32) for _ in range(2)])
        self.norm = torch.nn.LayerNorm(16)
        self.head = torch.nn.Linear(16, 50, bias=False)
        self.head.weight = self.embeddings.weight

    def forward(self, ids):
        x = self.embeddings(ids)
        for layer in self.layers:
            x, _ = layer(x)
        return self.head(self.norm(x))


class Outer(torch.nn.Module):
    """As TrainModule: the model under `.model`, the whole wrapped by FSDP."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(ids)


def loss_of(model, rank):
    ids = torch.randint(0, 50, (4, 6), generator=torch.Generator().manual_seed(rank))
    return model(ids).float().pow(2).mean() * 100


def names(group):
    return sorted(unwrapped_name(n) for n in group)


def main(out: Path):
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = Tiny()
    apply_lora(model, OmegaConf.create({"r": 2, "alpha": 4.0, "targets": ["qkv"], "trainable": []}))
    model.requires_grad_(True)  # LoRA froze the rest; the clip covers every parameter
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.qkv.lora_b.normal_()  # B starts at zero: a merge of it would show nothing
    reference = copy.deepcopy(model)
    decayed = decayed_names(model)
    plain_groups = parameter_groups(model, 0.01, decayed)
    by_id = {id(p): n for n, p in model.named_parameters()}
    plain_decay = names(by_id[id(p)] for p in plain_groups[0]["params"])
    expected_state = _unique_state(merged_state(model))

    outer = Outer(model)
    root = FSDP(outer, device_id=torch.device("cpu"), use_orig_params=True, auto_wrap_policy=fsdp_wrap_policy(
        ["TransformerLayer"]))
    wrapped = sum(isinstance(m, FSDP) for m in root.modules())
    groups = parameter_groups(outer.model, 0.01, decayed)
    by_id = {id(p): n for n, p in outer.model.named_parameters()}
    found = {"wrapped_units": wrapped, "plain_decay": plain_decay,
             "fsdp_decay": names(by_id[id(p)] for p in groups[0]["params"]),
             "fsdp_decay_without_names": len(parameter_groups(outer.model, 0.01)[0]["params"])}

    # clipping by the norm over all ranks' shards, against the unsharded model with the averaged gradient
    loss_of(root, rank).backward()
    optimizer = torch.optim.SGD(root.parameters(), lr=0.1)
    clip_gradients(optimizer, CLIP, "norm", fsdp_root=root)
    with FSDP.summon_full_params(root, with_grads=True):
        got = {unwrapped_name(n): p.grad.clone() for n, p in outer.model.named_parameters() if p.grad is not None}
    ((loss_of(reference, 0) + loss_of(reference, 1)) / 2).backward()
    found["norm_before"] = float(torch.nn.utils.clip_grad_norm_(reference.parameters(), CLIP))
    want = {n: p.grad for n, p in reference.named_parameters() if p.grad is not None}
    found["clipped_like_unsharded"] = sorted(got) == sorted(want) and all(
        torch.allclose(got[n], want[n], atol=1e-6, rtol=1e-4) for n in want)

    # checkpoint weights: gathered on every rank, complete on rank 0, and loaded back into the shards
    module = SimpleNamespace(model=outer.model, trainer=SimpleNamespace(strategy=SimpleNamespace(model=root),
                                                                        is_global_zero=rank == 0))
    weights = model_weights(module)
    if rank == 0:
        state, adapters, _ = weights
        found["same_names"] = sorted(state) == sorted(expected_state)
        found["same_values"] = all(torch.allclose(state[k], expected_state[k], atol=1e-6) for k in expected_state)
        found["adapters"] = sorted(adapters)
    else:
        found["weights"] = weights
    saved = [weights[0] if rank == 0 else None]
    dist.broadcast_object_list(saved, src=0)  # every rank reads the checkpoint file
    with torch.no_grad():
        for p in root.parameters():
            p.zero_()
    load_model_weights(module, saved[0])
    again = model_weights(module)
    if rank == 0:
        found["reloaded"] = all(torch.allclose(again[0][k], expected_state[k], atol=1e-5) for k in expected_state)
    (out / f"rank{rank}.json").write_text(json.dumps(found))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
