"""Composition and validation of the conf/ tree: every option of every group, and every typo case."""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from framework import config
from framework.errors import ConfigError
from framework.schema import COMPONENT_GROUPS

CONF = config.conf_dir()


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", sorted(p.name for p in CONF.iterdir() if p.is_dir()))
def test_every_option_of_every_group_composes_and_validates(group):
    options = group_options(group)
    assert options, f"conf/{group} is empty"
    tiny_model = {"encoder": "bert_tiny", "decoder": "gpt_tiny", "encoder-decoder": "t5_tiny"}
    for option in options:
        overrides = [f"{group}={option}"]
        if group == "model":  # a backbone alone: objectives and heads are checked with their own groups
            overrides += ["~head", "~objective"]
        if group in ("head", "objective"):  # pair it with a tiny model of a kind it accepts
            from framework.plugins import registries

            node = config.compose(overrides)[group]
            accepts = registries()[group].get(node.name).accepts
            if accepts:
                overrides.append(f"model={tiny_model[accepts[0]]}")
            overrides.append("~objective" if group == "head" else "~head")
        cfg = config.compose(overrides)
        resolved = config.validate(cfg, components=())
        assert resolved is not None
        if group in COMPONENT_GROUPS:
            assert resolved[group].name, f"{group}={option} has no name"


def test_defaults_compose_and_validate_every_component():
    cfg = config.load([])
    for group in COMPONENT_GROUPS:
        assert cfg[group].name


@pytest.mark.parametrize("overrides, needs, fix", [
    (["model=bert_tiny", "head=bert_mlm", "objective=sequence_classification"], "one label per sequence",
     "head=sequence_classification"),
    (["head=sequence_classification", "objective=causal_lm"], "vocabulary logits", "head=lm"),
    (["model=bert_tiny", "head=qa", "objective=token_classification"], "one label per token",
     "head=token_classification"),
])
def test_a_head_that_does_not_give_what_the_objective_needs_is_refused(overrides, needs, fix):
    with pytest.raises(ConfigError) as err:
        config.check_pairing(config.compose(overrides))
    assert needs in err.value.message and fix in err.value.hint


def test_misspelt_keys_and_groups_suggest_the_full_name():
    with pytest.raises(ConfigError, match="Did you mean 'trainer.max_steps'"):
        config.load(["trainer.max_step=5"])
    with pytest.raises(ConfigError, match="Did you mean 'experiment'"):
        config.load(["experimnt=finetune_sentiment"])
    with pytest.raises(ConfigError, match="head.pooling") as err:
        config.load(["experiment=finetune_sentiment", "head.pooling=maxx"])
    assert "cls, mean, last" in err.value.hint


def test_misspelt_group_option_suggests_the_close_one():
    with pytest.raises(ConfigError) as err:
        config.compose(["model=bret_tiny"])
    assert "bert_tiny" in str(err.value) and "model" in str(err.value)


def test_misspelt_key_suggests_the_close_one():
    with pytest.raises(ConfigError) as err:
        config.compose(["trainer.max_epoch=1"])
    assert "trainer.max_epoch" in str(err.value) and "max_epochs" in str(err.value)


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError) as err:
        config.load(["trainer.max_epochs=abc"])
    text = str(err.value)
    assert "trainer.max_epochs" in text and "int" in text and "abc" in text


def test_one_value_for_a_list_key_shows_the_list_to_write():
    with pytest.raises(ConfigError, match="invalid value 'backbone' for 'optim.freeze': expected list") as err:
        config.load(["optim.freeze=backbone"])
    assert err.value.hint == "write a list: optim.freeze=[backbone]"


def test_unknown_component_field_suggests(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(["model=bert_tiny", "~head", "~objective", "+model.hidden_sise=8"], components=("model",))
    assert "model.hidden_sise" in str(err.value) and "hidden_size" in str(err.value)


def test_unknown_component_name_suggests():
    from framework.errors import RegistryError

    with pytest.raises(RegistryError) as err:
        config.load(["model.name=bret"])
    assert "bert" in str(err.value)


def test_target_keys_cannot_smuggle_code():
    """Configs never instantiate arbitrary `_target_`s: the key is simply not in any schema."""
    with pytest.raises(ConfigError) as err:
        config.load(["+model._target_=os.system"])
    assert "_target_" in str(err.value)


def test_freeze_writes_plain_resolved_yaml(tmp_path):
    cfg = config.load(["seed=7"])
    path = config.freeze(cfg, tmp_path / "run")
    assert path.name == "resolved.yaml"
    again = OmegaConf.load(path)
    assert again.seed == 7 and "${" not in path.read_text()
    assert config.load_frozen(tmp_path / "run") == again


def test_plugin_config_group_is_on_the_search_path():
    pytest.importorskip("nlpf_demo_plugin")
    cfg = config.load(["model=bag_tiny", "~head", "~objective"], components=("model",))
    assert cfg.model.name == "bag_of_embeddings" and cfg.model.hidden_size == 16


def test_a_schema_field_the_plugin_yaml_leaves_out_can_be_set():
    pytest.importorskip("nlpf_demo_plugin")
    base = ["model=bag_tiny", "~head", "~objective"]  # bag_tiny.yaml lists only name and hidden_size
    cfg = config.load([*base, "model.unused_layer=true", "model.vocab_size=300"], components=("model",))
    assert cfg.model.unused_layer is True and cfg.model.vocab_size == 300 and cfg.model.hidden_size == 16
    with pytest.raises(ConfigError, match="Did you mean 'model.unused_layer'"):
        config.load([*base, "model.unused_layr=true"], components=("model",))


def test_parse_into_dataclass_suggests():
    from dataclasses import dataclass

    @dataclass
    class Args:
        ckpt: str = ""
        batch_size: int = 8

    assert config.parse_into(Args, ["ckpt=x", "batch_size=4"]) == Args("x", 4)
    with pytest.raises(ConfigError, match="batch_size"):
        config.parse_into(Args, ["batch_sise=4"])


@pytest.mark.parametrize("experiment", group_options("experiment"))
def test_trainer_gpu_alone_moves_an_experiment_to_the_gpu(experiment):
    # experiments set their recipe (epochs, batch size) but leave device and precision to the trainer group
    cpu = config.compose([f"experiment={experiment}"]).trainer
    gpu = config.compose([f"experiment={experiment}", "trainer=gpu"]).trainer
    # precision: auto, resolved per device when the run starts (tests/framework/training/test_precision.py)
    assert (cpu.accelerator, cpu.precision) == ("cpu", "auto")
    assert (gpu.accelerator, gpu.precision) == ("gpu", "auto")
    assert gpu.max_epochs == cpu.max_epochs  # the recipe's length is kept


def test_plugin_config_class_mistakes_name_the_class():
    from dataclasses import dataclass

    from framework import checks
    from framework.config import check_values, _merge_schema

    @dataclass
    class NoneForInt:
        depth: int = None

    with pytest.raises(ConfigError, match=r"config class .*NoneForInt \(for 'model'\) is invalid") as err:
        _merge_schema(NoneForInt, {}, "model")
    assert "Optional" in err.value.hint

    @dataclass
    class WrongCheck:
        hidden_size: int = 4

        def __post_init__(self):
            checks.positive("hidden_size", self.hidden_size)  # arguments the wrong way round

    with pytest.raises(ConfigError, match=r"under 'model' failed in .*WrongCheck.__post_init__: TypeError") as err:
        check_values(WrongCheck, {"hidden_size": 4}, "model")
    assert "checks.positive(self, 'hidden_size')" in err.value.hint


def test_maps_of_the_data_sources_are_set_whole_from_the_command_line():
    cfg = config.load(["data=csv", "data.path=sms.tsv", "data.label_map={1:spam,0:ham}", "data.columns={tokens:words}"],
                      components=("data",))
    assert dict(cfg.data.label_map) == {1: "spam", 0: "ham"} and dict(cfg.data.columns) == {"tokens": "words"}
    assert config.load(["data=jsonl", "data.path=x.jsonl", "+data.columns.source=en"],
                       components=("data",)).data.columns.source == "en"


def test_the_hint_for_an_unknown_typed_key_lists_the_valid_keys_instead_of_suggesting_plus():
    with pytest.raises(ConfigError) as err:
        config.load(["model.n_layerz=2"])
    assert "Did you mean 'model.n_layer'" in str(err.value) and "n_layer" in err.value.hint and "+" not in err.value.hint


def test_an_unknown_key_set_by_a_yaml_file_names_where_it_came_from():
    with pytest.raises(ConfigError) as err:
        config.load(["experiment=finetune_sentiment", "head=lm"])
    assert "unknown config key 'head.pooling'" in str(err.value)
    assert "not on the command line: experiment 'finetune_sentiment'" in str(err.value) and "~head.pooling" in err.value.hint
    with pytest.raises(ConfigError) as err:
        config.load(["head.poolin=cls"])  # typed on the command line: no guess about files
    assert "not on the command line" not in str(err.value)


def test_a_key_under_a_null_map_says_how_to_set_it():
    with pytest.raises(ConfigError) as err:
        config.load(["data=jsonl", "data.path=x.jsonl", "data.columns.tokens=words"])
    assert "'data.columns' is null" in str(err.value) and "Did you mean" not in str(err.value)
    assert "+data.columns.tokens=VALUE" in err.value.hint


def test_a_comma_outside_a_sweep_names_the_three_readings():
    with pytest.raises(ConfigError) as err:
        config.load(["model.n_layer=2,3"])
    assert err.value.message == "'model.n_layer=2,3' gives several values, which only a sweep takes"
    assert "add --multirun" in err.value.hint and "model.n_layer=[2,3]" in err.value.hint


def test_a_misspelt_command_argument_is_called_an_argument():
    from framework.inference.options import GenerateArgs

    with pytest.raises(ConfigError) as err:
        config.parse_into(GenerateArgs, ["promt=hello"])
    assert err.value.message == "unknown argument 'promt'. Did you mean 'prompt'?"


@pytest.mark.parametrize("override, message, hint", [
    ("=3", "cannot parse override '=3': no key before '='", "key=value"),
    ("model={a:1}", "'model' is a config group: model= takes an option name, not a mapping", "model.KEY=VALUE"),
    ("+seed=1", "'+seed' adds a key, but 'seed' is already in the config", "write seed=VALUE"),
    ("--bogus", "unknown option '--bogus'", "--debug and --multirun")])
def test_override_syntax_mistakes_are_named_in_nlpf_terms(override, message, hint):
    with pytest.raises(ConfigError) as err:
        config.load([override])
    assert err.value.message == message and hint in err.value.hint


def test_strategies_are_lightnings_registered_names():
    from pytorch_lightning.strategies import StrategyRegistry

    from framework.schema import STRATEGIES

    assert set(StrategyRegistry.available_strategies()) <= set(STRATEGIES)  # a new Lightning name must be added
    with pytest.raises(ConfigError, match="'trainer.strategy'.*Did you mean 'ddp'"):
        config.load(["trainer.strategy=ddpp"])
