"""FSDP on two CPU processes (gloo; Lightning's FSDPStrategy needs GPUs): nlpf's weight-decay groups, gradient
clipping and checkpoint weights with every TransformerLayer its own FSDP unit (tests/.../fsdp_worker.py)."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("fsdp_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("fsdp")
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(out)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_every_transformer_layer_is_its_own_unit(ranks):
    assert ranks[0]["wrapped_units"] == 3  # the root and the two layers


def test_weight_decay_groups_are_those_of_the_unwrapped_model(ranks):
    for found in ranks:
        assert found["fsdp_decay"] == found["plain_decay"] and found["plain_decay"]
        assert "embeddings.weight" in found["fsdp_decay"] and "norm.weight" not in found["fsdp_decay"]
        assert found["fsdp_decay_without_names"] == 0  # what deciding by dimension saw: every shard is 1-d


def test_clipping_takes_the_norm_over_every_shard(ranks):
    for found in ranks:
        assert found["norm_before"] > 10 * 0.05  # the clip applied
        assert found["clipped_like_unsharded"]


def test_checkpoint_weights_are_gathered_whole_and_load_back(ranks):
    first, second = ranks
    assert first["same_names"] and first["same_values"]
    assert first["adapters"] == [f"layers.{i}.attn.qkv.lora_{ab}" for i in range(2) for ab in "ab"]
    assert second["weights"] is None  # rank 0 alone writes
    assert first["reloaded"]
