"""sentencepiece: training on a corpus (cached by config + corpus), loading, specials, offsets, round trips."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from framework.errors import NlpfError
from framework.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer

WORDS = ("river boat market bread school canal library valley street coffee window station train village "
         "apple teacher sentence friend summer harbour night bridge museum garden tower music lunch").split()


@pytest.fixture(scope="module")
def corpus():
    from plugins.data.sets import TINY_CORPUS

    lines = TINY_CORPUS.read_text(encoding="utf-8").splitlines()
    for i in range(400):
        lines.append(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(8)) + ".")
    lines += ["Café naïve crème brûlée à la mode.", "THE END, 1234567890!", "A Zebra at the zoo."]
    return lines


def spm_cfg(**kw):
    return OmegaConf.create({"name": "sentencepiece", "vocab_size": 200, "character_coverage": 1.0, "num_threads": 1, **kw})


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    cache = tmp_path_factory.mktemp("tok-cache")
    return build_tokenizer(spm_cfg(num_sentinels=4), corpus=corpus, cache_dir=cache), cache


def test_special_tokens_and_sentinels(trained):
    tok, _ = trained
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.id_to_token(tok.mask_id) == "<mask>" and tok.id_to_token(tok.sep_id) == "<sep>"
    assert [tok.id_to_token(i) for i in tok.sentinel_ids] == [f"<extra_id_{i}>" for i in range(4)]
    assert tok.vocab_size == 200
    assert tok.encode("river boat")[-1] == tok.eos_id  # the default template is T5's: </s> at the end


def test_kept_special_tokens_are_written_out(trained):
    tok, _ = trained
    ids = tok.encode("river boat")  # ... </s>
    assert tok.decode(ids) == "river boat"
    assert tok.decode(ids, skip_special_tokens=False) == "river boat</s>"
    assert tok.decode([tok.eos_id], skip_special_tokens=False) == "</s>"
    # text after a control piece keeps its space
    assert tok.decode(ids + tok.encode("river", add_special_tokens=False), skip_special_tokens=False) == "river boat</s> river"


def test_training_is_cached_by_config_and_corpus(corpus, trained, monkeypatch):
    tok, cache = trained
    import plugins.tokenizers.sentencepiece as module

    def no_training(*a, **k):
        raise AssertionError("trained again although the cache holds this tokenizer")

    monkeypatch.setattr(module, "train", no_training)
    again = build_tokenizer(spm_cfg(num_sentinels=4), corpus=corpus, cache_dir=cache)
    assert again.encode("river boat market") == tok.encode("river boat market")
    with pytest.raises(AssertionError):  # another corpus is another tokenizer
        build_tokenizer(spm_cfg(num_sentinels=4), corpus=corpus[:-1], cache_dir=cache)


def test_bpe_and_unigram_differ(corpus, tmp_path):
    bpe = build_tokenizer(spm_cfg(model_type="bpe"), corpus=corpus, cache_dir=tmp_path)
    uni = build_tokenizer(spm_cfg(model_type="unigram"), corpus=corpus, cache_dir=tmp_path)
    assert bpe.fingerprint() != uni.fingerprint()
    assert len(list((tmp_path).glob("sentencepiece-*"))) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(WORDS + ["Zebra", "brûlée", "42"]), min_size=1, max_size=8))
def test_round_trip(trained, words):
    tok, _ = trained
    text = " ".join(words)
    assert tok.decode(tok.encode(text)) == text


def test_offsets_are_character_spans(trained):
    tok, _ = trained
    text = "Café naïve river"
    enc = tok.encode_batch([text], with_offsets=True, add_special_tokens=False)[0]
    assert enc.offsets[-1][1] == len(text)
    covered = "".join(text[a:b] for a, b in enc.offsets)
    assert covered == text


def test_word_ids_for_pre_split_words(trained):
    tok, _ = trained
    enc = tok.encode_batch([["river", "boats", "Zebra"]])[0]
    words = [w for w in enc.word_ids if w is not None]
    assert words == sorted(words) and set(words) == {0, 1, 2}
    assert enc.word_ids[-1] is None  # </s>


def test_vocab_too_large_is_a_clear_error(corpus, tmp_path):
    with pytest.raises(NlpfError, match="at most") as err:
        build_tokenizer(spm_cfg(vocab_size=5000), corpus=corpus[:20], cache_dir=tmp_path)
    assert "tokenizer.vocab_size=" in err.value.hint


def test_needs_a_corpus(tmp_path):
    with pytest.raises(NlpfError, match="no corpus"):
        build_tokenizer(spm_cfg(), cache_dir=tmp_path)


def test_load_existing_model_and_save(trained, tmp_path):
    tok, _ = trained
    save_tokenizer(tok, tmp_path / "saved")
    loaded = build_tokenizer(spm_cfg(model_file=str(tmp_path / "saved" / "spm.model"), num_sentinels=4))
    assert loaded.encode("market bread") == tok.encode("market bread")
    assert load_tokenizer(tmp_path / "saved").fingerprint() == tok.fingerprint()
    with pytest.raises(NlpfError, match="does not exist"):
        build_tokenizer(spm_cfg(model_file=str(tmp_path / "missing.model")))
    with pytest.raises(NlpfError, match="is a directory, not a sentencepiece model") as err:
        build_tokenizer(spm_cfg(model_file=str(tmp_path / "saved")))  # the directory `nlpf tokenizer train` wrote
    assert err.value.hint == f"point it at the model file: tokenizer.model_file={tmp_path / 'saved' / 'spm.model'}"
    with pytest.raises(NlpfError, match="extra_id_4"):
        build_tokenizer(spm_cfg(model_file=str(tmp_path / "saved" / "spm.model"), num_sentinels=5))
