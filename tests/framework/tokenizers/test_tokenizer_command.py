"""`nlpf tokenizer train`: trains on the configured data and saves a directory load_tokenizer reads."""
import pytest

from framework.cli import main
from framework.tokenizers import load_tokenizer


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path / "cache"))
    from plugins.data.sets import TINY_CORPUS

    path = tmp_path / "my.txt"
    path.write_text(TINY_CORPUS.read_text(encoding="utf-8"))
    return path


def test_train_sentencepiece_on_own_text(corpus, tmp_path, capsys):
    out = tmp_path / "tok"
    code = main(["tokenizer", "train", "tokenizer=sentencepiece_bpe", "data=text", f"data.path={corpus}",
                 f"out={out}", "tokenizer.vocab_size=300", "tokenizer.num_threads=1"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "300 tokens" in printed
    assert f"use it with `tokenizer.model_file={out / 'spm.model'}`" in printed  # the override that reuses it
    tok = load_tokenizer(out)
    assert tok.vocab_size == 300 and tok.decode(tok.encode("The river runs")) == "The river runs"


def test_errors_are_reported_without_traceback(corpus, tmp_path, capsys):
    assert main(["tokenizer", "train", "tokenizer=sentencepiece_unigram", "data=text", f"data.path={corpus}",
                 f"out={tmp_path / 'x'}"]) == 2
    err = capsys.readouterr().err
    assert "cannot train a 8000-token unigram model" in err and "hint: set tokenizer.vocab_size=" in err
    assert main(["tokenizer", "trian"]) == 2
    assert "Did you mean 'train'" in capsys.readouterr().err
    assert main(["tokenizer", "train", "data=text", f"data.path={corpus}"]) == 2
    assert "missing out=DIR" in capsys.readouterr().err


def _train(corpus, out, tokenizer="sentencepiece_bpe"):
    extra = ["tokenizer.vocab_size=300", "tokenizer.num_threads=1"] if tokenizer.startswith("sentencepiece") else []
    return main(["tokenizer", "train", f"tokenizer={tokenizer}", "data=text", f"data.path={corpus}", f"out={out}",
                 *extra])


def test_refuses_a_directory_with_other_files_before_training(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "spm.model").write_text("not a model of ours")
    (out / "tokenizer.yaml").write_text("mine: true\n")

    def no_training(*args, **kwargs):
        raise AssertionError("trained before out= was checked")

    monkeypatch.setattr("framework.tokenizers.build.build_tokenizer", no_training)
    assert _train(corpus, out) == 2
    err = capsys.readouterr().err
    assert f"'{out}' exists and holds files that are not part of a tokenizer directory (notes.txt, spm.model)" in err
    assert "hint: choose a new or empty directory" in err
    assert (out / "notes.txt").read_text() == "keep me" and (out / "spm.model").read_text() == "not a model of ours"
    assert (out / "tokenizer.yaml").read_text() == "mine: true\n"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "spm.model", "tokenizer.yaml"]


def test_refuses_a_file(corpus, tmp_path, capsys):
    out = tmp_path / "tok.txt"
    out.write_text("x")
    assert _train(corpus, out) == 2
    assert f"out={out} exists and is not a directory" in capsys.readouterr().err
    assert out.read_text() == "x"


def test_replaces_an_earlier_tokenizer_directory_whole(corpus, tmp_path, capsys):
    out = tmp_path / "tok"
    assert _train(corpus, out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["spm.model", "tokenizer.yaml"]
    assert _train(corpus, out, tokenizer="byte") == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer.yaml"]  # the old spm.model went with it
    assert load_tokenizer(out).name == "byte"
    assert _train(corpus, out) == 0  # and an empty directory is fine too
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _train(corpus, empty, tokenizer="byte") == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_save_leaves_the_earlier_tokenizer(corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / "tok"
    assert _train(corpus, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def half_save(tokenizer, directory):
        (directory / "tokenizer.yaml").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("framework.tokenizers.build.save_tokenizer", half_save)
    assert _train(corpus, out, tokenizer="byte") == 1
    assert "no space left" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_the_directory_gets_the_umask_permissions(corpus, tmp_path, mask):
    import os
    import stat

    old = os.umask(mask)
    try:
        out = tmp_path / "tok"
        assert _train(corpus, out) == 0
    finally:
        os.umask(old)
    for path in [out, *out.iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o777 if path.is_dir() else 0o666) & ~mask, path
