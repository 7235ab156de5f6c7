"""A plugin's experiment file that forgets `# @package _global_` is reported with the fix, not with a
puzzling 'unknown key experiment' or a Hydra override message."""
import pytest

from framework import config, plugins
from framework.errors import ConfigError


@pytest.fixture
def experiment_dir(tmp_path):
    (tmp_path / "experiment").mkdir()
    plugins.state().plugins.append(plugins.PluginInfo("mine", "nlpf-mine", "0.1", "nlpf_mine",
                                                      config_dirs=[str(tmp_path)]))
    return tmp_path / "experiment"


@pytest.mark.parametrize("body", ["batch_size: 4\n", "defaults:\n  - override /model: gpt_tiny\nbatch_size: 4\n"])
def test_missing_package_line_is_named(experiment_dir, body):
    (experiment_dir / "nested.yaml").write_text(body)
    with pytest.raises(ConfigError) as err:
        config.load(["experiment=nested"])
    assert "# @package _global_" in err.value.hint


def test_with_the_package_line_it_applies(experiment_dir):
    (experiment_dir / "fine.yaml").write_text("# @package _global_\ndefaults:\n  - override /model: bert_tiny\n"
                                              "  - override /head: sequence_classification\n  - override /objective: sequence_classification\n"
                                              "batch_size: 4\n")
    cfg = config.load(["experiment=fine"], components=("model",))
    assert cfg.batch_size == 4 and cfg.model.name == "bert"


def test_plugins_warns_about_a_missing_config_dir(tmp_path, capsys):
    from framework import cli

    plugins.state().plugins.append(plugins.PluginInfo("lost", "nlpf-lost", "0.1", "nlpf_lost",
                                                      config_dirs=[str(tmp_path / "conf")]))
    assert cli.main(["plugins"]) == 0
    assert f"plugin 'lost': config dir {tmp_path / 'conf'} does not exist" in capsys.readouterr().err


def test_a_misspelt_group_in_the_defaults_is_named_with_a_suggestion(experiment_dir):
    (experiment_dir / "typo.yaml").write_text("# @package _global_\ndefaults:\n  - override /modle: gpt_tiny\n")
    with pytest.raises(ConfigError) as err:
        config.load(["experiment=typo"])
    assert err.value.message == ("experiment 'typo': its defaults name the config group 'modle', which does not "
                                 "exist. Did you mean 'model'?")
    assert "# @package _global_" not in err.value.hint  # the file has it


def test_override_of_a_group_the_defaults_do_not_choose_says_to_drop_override(experiment_dir):
    (experiment_dir.parent / "schedule").mkdir()
    (experiment_dir.parent / "schedule" / "fast.yaml").write_text("warmup: 1\n")
    (experiment_dir / "extra.yaml").write_text("# @package _global_\ndefaults:\n  - override /schedule: fast\n")
    with pytest.raises(ConfigError) as err:
        config.load(["experiment=extra"])
    assert "write `/schedule: OPTION` without `override`" in err.value.hint


def test_a_misspelt_nested_key_in_a_plugin_experiment_names_the_file_and_the_right_keys(experiment_dir):
    (experiment_dir / "steps.yaml").write_text("# @package _global_\ntrainer:\n  max_stepz: 3\n")
    with pytest.raises(ConfigError) as err:
        config.load(["experiment=steps"])
    assert err.value.message.startswith("unknown config key 'trainer.max_stepz'. Did you mean 'trainer.max_steps'")
    assert f"experiment 'steps' ({experiment_dir / 'steps.yaml'})" in err.value.message
    assert err.value.hint.startswith("valid keys under 'trainer': accelerator,")
    assert err.value.hint.endswith("fix that YAML file")  # trainer= was not changed on the command line
