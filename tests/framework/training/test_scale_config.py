"""Scale settings checked before anything is built: FSDP's wrap policy and sharding, several nodes without a
cluster launcher, accelerators this machine lacks, and Lightning's whole message."""
import pytest
import torch
from omegaconf import OmegaConf

from framework import cli
from framework.errors import ConfigError
from framework.modules import TransformerLayer
from framework.training import precision
from framework.training.trainer import _lightning_message, _strategy

TINY = ["model=gpt_tiny", "data=tiny_corpus", "trainer.max_steps=3", "experiment_name=scale"]


def fsdp(**kwargs):
    return OmegaConf.create({"strategy": "fsdp", "accelerator": "gpu", "fsdp_wrap": ["TransformerLayer"],
                             "fsdp_sharding": "FULL_SHARD", **kwargs})


def test_fsdp_shards_each_transformer_layer_as_its_own_unit():
    strategy = _strategy(fsdp())
    policy = strategy.kwargs["auto_wrap_policy"]
    layer = TransformerLayer(16, 2, 32, dropout=0.0)
    assert policy._lambda_fn(layer) and not policy._lambda_fn(torch.nn.Linear(2, 2))  # by class name
    assert strategy.kwargs["use_orig_params"] is True
    assert str(strategy.sharding_strategy) == "ShardingStrategy.FULL_SHARD"


def test_fsdp_sharding_and_one_unit_are_settings():
    strategy = _strategy(fsdp(fsdp_wrap=[], fsdp_sharding="SHARD_GRAD_OP"))
    assert "auto_wrap_policy" not in strategy.kwargs
    assert str(strategy.sharding_strategy) == "ShardingStrategy.SHARD_GRAD_OP"


def test_an_unknown_wrap_class_or_sharding_is_a_config_error(monkeypatch):
    from framework.config import load

    with pytest.raises(ConfigError, match="fsdp_sharding"):
        load(["trainer=fsdp", "trainer.fsdp_sharding=ALL"])
    from framework.training.trainer import check_fsdp_wrap

    model = torch.nn.Sequential(TransformerLayer(16, 2, 32, dropout=0.0))
    check_fsdp_wrap(model, ["TransformerLayer"])
    with pytest.raises(ConfigError, match="no module of this model is a 'TransformerLayr'. Did you mean 'TransformerLayer'"):
        check_fsdp_wrap(model, ["TransformerLayr"])


def _clear_cluster(monkeypatch):
    for key in ("SLURM_NTASKS", "SLURM_JOB_NAME", "TORCHELASTIC_RUN_ID", "MASTER_ADDR", "NODE_RANK", "GROUP_RANK",
                "RANK", "LSB_JOBID", "LSB_DJOB_RANKFILE", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)


def test_several_nodes_without_a_cluster_launcher_are_refused_before_the_run_directory(tmp_path, monkeypatch, capsys):
    _clear_cluster(monkeypatch)
    # this used to wait forever for the other node's processes, leaving a run directory with resolved.yaml
    assert cli.main(["train", *TINY, "trainer=ddp", "trainer.accelerator=cpu", "trainer.num_nodes=2"]) == 2
    err = capsys.readouterr().err
    assert "trainer.num_nodes=2 needs a process started on each node" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("env", [{"SLURM_NTASKS": "16", "SLURM_JOB_NAME": "train"},
                                 {"MASTER_ADDR": "10.0.0.1", "NODE_RANK": "1"}])
def test_several_nodes_under_a_launcher_pass_the_check(monkeypatch, env):
    from omegaconf import OmegaConf

    from framework.config import load
    from framework.training.precision import check_accelerator

    _clear_cluster(monkeypatch)
    assert load(["trainer=multinode"]).trainer.num_nodes == 2  # the config composes anywhere (nlpf config)
    trainer = OmegaConf.create({"accelerator": "cpu", "strategy": "ddp", "num_nodes": 2})
    with pytest.raises(ConfigError, match="needs a process started on each node"):
        check_accelerator(trainer)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    check_accelerator(trainer)  # under a launcher: accepted


@pytest.mark.parametrize("overrides, message", [
    (["trainer=gpu", "trainer.precision=bf16-mixed"], "trainer.accelerator=gpu, but torch sees no CUDA GPU here"),
    (["trainer=gpu", "trainer.precision=32"], "trainer.accelerator=gpu, but torch sees no CUDA GPU here"),
    (["trainer=fsdp", "trainer.accelerator=cpu", "trainer.precision=32"], "trainer.strategy=fsdp needs CUDA GPUs"),
    (["trainer=tpu"], "trainer.accelerator=tpu needs torch_xla"),
])
def test_a_missing_accelerator_is_refused_before_the_data_is_built(tmp_path, monkeypatch, capsys, overrides, message):
    import framework.training.build as build

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(build, "build_run", lambda cfg: pytest.fail("the data was built"))
    assert cli.main(["train", *TINY, *overrides]) == 2
    assert message in capsys.readouterr().err
    assert not any((tmp_path / "runs").rglob("resolved.yaml"))


def test_lightning_message_keeps_what_the_machine_has():
    err = ValueError("You requested gpu: [0, 1, 2, 3, 4, 5, 6, 7]\n But your machine only has: [0, 1, 2, 3]")
    assert _lightning_message(err) == "You requested gpu: [0, 1, 2, 3, 4, 5, 6, 7] But your machine only has: [0, 1, 2, 3]"
