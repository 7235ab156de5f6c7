"""Hugging Face tokenizer files: WordPiece vocab.txt, tokenizer.json with padding switched off, MiniLM."""
import json

import pytest
from omegaconf import OmegaConf

from framework.errors import NlpfError
from framework.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "new", "york", "city", "is", "big", "##s", "play",
         "##ing", ",", ".", "a"]


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    return path


def hf(path, **kw):
    return build_tokenizer(OmegaConf.create({"name": "hf", "path": str(path), **kw}))


def test_wordpiece_vocab(vocab_file):
    tok = hf(vocab_file)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    enc = tok.encode_batch(["The city is playing"], with_offsets=True)[0]
    assert [tok.id_to_token(i) for i in enc.ids] == ["[CLS]", "the", "city", "is", "play", "##ing", "[SEP]"]
    assert enc.offsets[4:6] == [(12, 16), (16, 19)]
    assert tok.decode(enc.ids) == "the city is playing"


def test_pairs_word_ids_and_truncation(vocab_file):
    tok = hf(vocab_file)
    enc = tok.encode_batch([["New", "York", "plays"]], pair=None)[0]
    assert enc.word_ids == [None, 0, 1, 2, 2, None]
    pair = tok.encode_batch(["the city"], pair=["is big , a big city ."], max_length=8, truncation="only_second",
                            with_offsets=True)[0]
    assert len(pair.ids) == 8 and pair.type_ids[-1] == 1 and pair.sequence_ids[:4] == [None, 0, 0, None]


def test_tokenizer_json_padding_is_switched_off(vocab_file, tmp_path):
    tk = hf(vocab_file).tk
    tk.enable_padding(length=128)  # as the MiniLM tokenizer.json ships
    tk.save(str(tmp_path / "tokenizer.json"))
    assert json.loads((tmp_path / "tokenizer.json").read_text())["padding"] is not None
    tok = hf(tmp_path)  # a directory: tokenizer.json is preferred
    assert len(tok.encode("the city")) == 4
    save_tokenizer(tok, tmp_path / "saved")
    assert load_tokenizer(tmp_path / "saved").encode("new york") == tok.encode("new york")


def test_template_override(vocab_file):
    tok = hf(vocab_file, template="none")
    assert tok.encode("the city") == [5, 8]


def test_bad_paths(tmp_path):
    with pytest.raises(NlpfError, match="does not exist"):
        hf(tmp_path / "nope.json")
    with pytest.raises(NlpfError, match="neither tokenizer.json nor vocab.txt"):
        hf(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(NlpfError, match="cannot read"):
        hf(tmp_path / "broken.json")


@pytest.mark.network
def test_minilm_tokenizer_from_its_wheel():
    from framework.config import compose

    tok = build_tokenizer(compose(["tokenizer=minilm"]).tokenizer)
    assert tok.vocab_size == 30522
    assert tok.encode("Hello world") == [101, 7592, 2088, 102]
    assert len(tok.encode("short")) == 3  # no padding to 128
