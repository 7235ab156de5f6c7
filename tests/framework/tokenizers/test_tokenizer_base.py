"""The Tokenizer contract, exercised through the byte tokenizer (no files, no training)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from framework.errors import NlpfError
from framework.tokenizers import build_tokenizer, check_vocab_fits, load_tokenizer, save_tokenizer


def byte_tok(**kw):
    return build_tokenizer(OmegaConf.create({"name": "byte", **kw}))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_byte_round_trip_any_unicode(text):
    tok = byte_tok()
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_byte_offsets_point_at_the_characters(text):
    tok = byte_tok()
    enc = tok.encode_batch([text], with_offsets=True, add_special_tokens=False)[0]
    assert len(enc.offsets) == len(text.encode("utf-8"))
    # the bytes of each character's span decode back to that character
    spans = sorted(set(enc.offsets))
    assert "".join(text[a:b] for a, b in spans) == text


def test_templates_and_pairs():
    tok = byte_tok()
    enc = tok.encode_batch(["ab"], pair=["c"], with_offsets=True)[0]
    assert enc.ids == [tok.cls_id, 7 + ord("a"), 7 + ord("b"), tok.sep_id, 7 + ord("c"), tok.sep_id]
    assert enc.type_ids == [0, 0, 0, 0, 1, 1]
    assert enc.sequence_ids == [None, 0, 0, None, 1, None]
    assert enc.offsets[4] == (0, 1)
    eos = byte_tok(template="eos").encode("ab")
    assert eos == [7 + ord("a"), 7 + ord("b"), 3]
    assert byte_tok(template="none").encode("ab") == [7 + ord("a"), 7 + ord("b")]
    with pytest.raises(NlpfError, match="template"):
        byte_tok(template="bert")


def test_truncation_counts_special_tokens():
    tok = byte_tok()
    enc = tok.encode_batch(["abcdefgh"], pair=["xyz"], max_length=8)[0]
    assert len(enc.ids) == 8 and enc.ids[-1] == tok.sep_id
    only2 = tok.encode_batch(["abcd"], pair=["wxyz1234"], max_length=9, truncation="only_second")[0]
    assert tok.decode(only2.ids) == "abcdwx"  # the question stays whole, the context is cut


def test_pre_split_words_get_word_ids():
    tok = byte_tok()
    enc = tok.encode_batch([["New", "York"]])[0]
    # [CLS] N e w ␠ Y o r k [SEP]: the space before a word belongs to it
    assert enc.word_ids == [None, 0, 0, 0, 1, 1, 1, 1, 1, None]
    assert tok.decode(enc.ids) == "New York"


def test_sentinels_and_vocab_size():
    tok = byte_tok(num_sentinels=3)
    assert tok.vocab_size == 7 + 256 + 3
    assert tok.sentinel_ids == [263, 264, 265]
    assert tok.token_to_id("<extra_id_2>") == 265 and tok.id_to_token(265) == "<extra_id_2>"
    assert tok.decode([tok.sentinel_ids[0], 7 + ord("a")]) == "a"


def test_check_vocab_fits():
    tok = byte_tok()
    check_vocab_fits(tok, 263)
    with pytest.raises(NlpfError, match="263 tokens but model.vocab_size is 256") as err:
        check_vocab_fits(tok, 256)
    assert "vocab_size=263" in err.value.hint


def test_save_and_load(tmp_path):
    tok = byte_tok(template="eos", num_sentinels=2)
    save_tokenizer(tok, tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    assert again.encode("héllo") == tok.encode("héllo") and again.sentinel_ids == tok.sentinel_ids
    with pytest.raises(NlpfError, match="no tokenizer.yaml"):
        load_tokenizer(tmp_path)
