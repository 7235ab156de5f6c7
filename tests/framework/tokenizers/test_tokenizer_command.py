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
    assert "300 tokens" in capsys.readouterr().out
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
