"""`nlpf list --from DIST`: the components of one pip distribution (used for the config reference)."""
import json

from framework import cli


def test_from_keeps_only_that_distribution(capsys):
    assert cli.main(["list", "--format", "json", "--from", "nlpf"]) == 0
    data = json.loads(capsys.readouterr().out)
    origins = {e["origin"]["distribution"] for entries in data.values() for e in entries}
    assert origins == {"nlpf"}
    assert {"bert", "gpt", "t5"} <= {e["name"] for e in data["architecture"]}


def test_unknown_distribution_is_an_error_with_a_suggestion(capsys):
    assert cli.main(["list", "--from=nlpff"]) == 2
    err = capsys.readouterr().err
    assert "no installed plugin comes from the distribution 'nlpff'" in err and "Did you mean 'nlpf'" in err


def test_the_name_is_compared_as_pip_compares_names(capsys):
    from framework import plugins

    plugins.state().plugins.append(plugins.PluginInfo("mine", "nlpf-my-kit", "0.1", "nlpf_my_kit"))
    assert cli.main(["list", "--from", "NLPF_My.Kit"]) == 0  # no error: nlpf-my-kit (it registers nothing here)
    assert "no installed plugin" not in capsys.readouterr().err
