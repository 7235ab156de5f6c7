"""The example third-party plugin (examples/nlpf-lstm-plugin), pip-installed as CI does, driven from the CLI:
every component it registers trains for a few steps, then its checkpoints evaluate, predict and generate."""
import json
from importlib.metadata import PackageNotFoundError, distribution

import pytest

from framework import cli, plugins


def _installed() -> bool:
    try:
        distribution("nlpf-lstm-plugin")
        return True
    except PackageNotFoundError:
        return False


pytestmark = [
    pytest.mark.skipif(not _installed(), reason="example plugin not installed: pip install --no-deps -e "
                       "examples/nlpf-lstm-plugin (scripts/setup.sh does it)"),
    pytest.mark.slow,
]

QUICK = ["data.num_examples=80", "batch_size=8", "trainer.max_steps=4", "trainer.enable_progress_bar=false",
         "trainer.loggers=[]"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lstm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLPF_CACHE", str(root / "cache"))
        mp.chdir(root)
        yield root


def nlpf(*args) -> int:
    plugins.reset()
    return cli.main(list(args))


def train(workdir, name, *overrides):
    run_dir = workdir / name
    assert nlpf("train", f"run_dir={run_dir}", *overrides) == 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["global_step"] > 0
    return run_dir, metrics


@pytest.fixture(scope="module")
def lm_run(workdir):
    """LSTM LM + word-level tokenizer + word-dropout objective + lm head, on the toy reviews."""
    return train(workdir, "lm", "experiment=lstm_lm", *QUICK)


@pytest.fixture(scope="module")
def classifier_run(workdir):
    """BiLSTM encoder + attentive pooling head + the built-in sequence_classification objective."""
    return train(workdir, "cls", "experiment=lstm_classify", "trainer.loggers=[]",
                 "trainer.enable_progress_bar=false")


def test_plugin_is_listed_with_every_component(capsys):
    assert nlpf("plugins") == 0
    out = capsys.readouterr().out
    assert "nlpf-lstm-plugin 0.1.0  ok" in out
    assert nlpf("list", "--from", "nlpf-lstm-plugin") == 0
    out = capsys.readouterr().out
    for name in ("lstm_lm [decoder]", "lstm_encoder [encoder]", "word_level", "word_dropout_lm",
                 "attentive_pooling", "toy_reviews"):
        assert name in out


def test_language_model_trains_evaluates_and_generates(lm_run, workdir, capsys):
    run_dir, metrics = lm_run
    resolved = (run_dir / "resolved.yaml").read_text()
    for name in ("name: lstm_lm", "name: word_level", "name: word_dropout_lm", "name: toy_reviews"):
        assert name in resolved
    assert metrics["test"]["perplexity"] > 1
    ckpt = run_dir / "checkpoints" / "last"
    assert (ckpt / "tokenizer" / "vocab.txt").is_file()
    capsys.readouterr()
    assert nlpf("evaluate", f"ckpt={ckpt}", "split=validation") == 0
    assert "perplexity" in capsys.readouterr().out
    assert nlpf("generate", f"ckpt={ckpt}", "prompt=the film was", "max_new_tokens=4", "stream=false") == 0
    assert capsys.readouterr().out.strip()


def test_built_in_causal_lm_objective_and_classification_head_train_the_lstm_lm(workdir):
    train(workdir, "lm_causal", "experiment=lstm_lm", "objective=causal_lm", *QUICK)
    train(workdir, "lm_cls", "experiment=lstm_classify", "model=lstm_small", *QUICK)


def test_classifier_learns_and_predicts(classifier_run, workdir, capsys):
    run_dir, metrics = classifier_run
    assert metrics["test"]["accuracy"] >= 0.8, metrics
    ckpt = run_dir / "checkpoints" / "best"
    capsys.readouterr()
    assert nlpf("evaluate", f"ckpt={ckpt}") == 0
    assert "accuracy" in capsys.readouterr().out
    reviews = workdir / "reviews.txt"
    reviews.write_text("the lamp was awful from start to finish .\nmy new film was wonderful as everyone said .\n")
    assert nlpf("predict", f"ckpt={ckpt}", f"input={reviews}") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["label"] for r in rows] == ["negative", "positive"]


def test_the_plugin_package_own_tests_pass():
    import subprocess
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "examples" / "nlpf-lstm-plugin"
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
