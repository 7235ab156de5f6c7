"""The `nlpf` command: fast listing without torch, clean errors without tracebacks."""
import json
import os
import subprocess
import sys

import pytest

from framework import cli


def nlpf(*args, env=None):
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args", [["--help"], ["list"], ["plugins"]])
def test_listing_commands_do_not_import_torch(args):
    code = (
        "import sys; from framework import cli; rc = cli.main(%r);"
        "assert 'torch' not in sys.modules and 'pytorch_lightning' not in sys.modules, 'heavy import';"
        "sys.exit(rc)" % (args,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_list_shows_every_registry_with_origin():
    out = nlpf("list")
    assert out.returncode == 0
    for kind in ("tokenizer", "architecture", "objective", "head", "data"):
        assert kind in out.stdout
    assert "from nlpf " in out.stdout


def test_list_json_is_machine_readable():
    out = nlpf("list", "architecture", "--format", "json")
    data = json.loads(out.stdout)
    names = {e["name"] for e in data["architecture"]}
    assert {"bert", "gpt", "t5"} <= names
    assert all(e["kind"] in ("encoder", "decoder", "encoder-decoder") for e in data["architecture"])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "model=bret"], ["bert"]),
        (["train", "trainer.max_epoch=1"], ["max_epochs"]),
        (["train", "trainer.max_epochs=abc"], ["trainer.max_epochs", "int"]),
        (["trian"], ["train"]),
        (["list", "architectur"], ["architecture"]),
    ],
)
def test_user_errors_exit_nonzero_with_suggestion_and_no_traceback(args, expected):
    out = nlpf(*args)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    for word in expected:
        assert word in out.stderr, out.stderr


def test_debug_shows_the_traceback():
    out = nlpf("--debug", "train", "model=bret")
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_config_prints_composed_config_with_overrides():
    out = nlpf("config", "seed=123", "trainer.max_epochs=3")
    assert out.returncode == 0, out.stderr
    assert "seed: 123" in out.stdout and "max_epochs: 3" in out.stdout


def test_multirun_expands_sweeps():
    jobs = cli.expand_sweeps(["seed=1,2", "trainer.max_epochs=3", "optim.lr=0.1,0.2"])
    assert len(jobs) == 4
    assert ["seed=1", "trainer.max_epochs=3", "optim.lr=0.1"] in jobs


def test_multirun_config_runs_each_job():
    out = nlpf("config", "seed=5,6", "--multirun")
    assert out.returncode == 0, out.stderr
    assert "seed: 5" in out.stdout and "seed: 6" in out.stdout


@pytest.mark.parametrize("args, option", [
    (["list", "--format"], "--format"),
    (["list", "--from"], "--from"),
    (["list", "architecture", "--format"], "--format"),
    (["list", "--format", "--from", "nlpf"], "--format"),
    (["list", "--from="], "--from"),
])
def test_list_option_without_a_value_is_an_error_naming_it(args, option, capsys):
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"option {option} of `nlpf list` needs a value" in captured.err
    assert "usage: nlpf list" in captured.err


@pytest.mark.parametrize("args", [["list", "architecture", "--format=json"], ["list", "--format", "json", "--from", "nlpf"],
                                  ["list", "--from=nlpf", "--format", "json", "head"]])
def test_list_options_with_values_still_work(args, capsys):
    assert cli.main(args) == 0
    assert isinstance(json.loads(capsys.readouterr().out), dict)


@pytest.mark.parametrize("option, suggestion", [("--bogus", None), ("--debgu", "--debug"), ("-x", None)])
def test_an_unknown_option_before_the_command_is_named_as_an_option(option, suggestion, capsys):
    assert cli.main([option, "list"]) == 2
    err = capsys.readouterr().err
    assert f"unknown option '{option}'" in err and "unknown command" not in err
    if suggestion:
        assert f"Did you mean '{suggestion}'" in err


def test_config_refuses_what_train_refuses(capsys):
    assert cli.main(["config", "~model"]) == 2
    assert "'model' is not set" in capsys.readouterr().err


def test_a_closed_pipe_stops_quietly_with_the_sigpipe_status(monkeypatch, capsys):
    """`nlpf embed ... | head -1`: the reader leaving is no error to report."""
    def handler(args, ctx):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_handler", lambda command: handler)
    monkeypatch.setattr(cli.os, "dup2", lambda *a: None)  # pytest's captured stdout stays as it is
    assert cli.main(["list"]) == 141
    assert capsys.readouterr().err == ""


def test_a_sweep_checks_every_job_before_the_first_runs(tmp_path, capsys):
    run = tmp_path / "sweep"
    assert cli.main(["train", f"run_dir={run}", "seed=1,abc", "trainer.max_steps=1", "--multirun"]) == 2
    err = capsys.readouterr().err
    assert "job 1 (" in err and "invalid value 'abc' for 'seed'" in err
    assert not run.exists()  # job 0 did not run
    assert cli.main(["train", "seed=choice(1,2", "--multirun"]) == 2
    assert "cannot parse override" in capsys.readouterr().err
