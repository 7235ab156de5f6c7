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
