"""Property-based robustness tests (hypothesis): whatever the input, the readers, tokenizers and the override
parser either give the right answer or raise an NlpfError that names the problem, never anything else.

(Complements tests/framework/test_overrides_property.py, tests/plugins/data/test_file_sources.py and the
tokenizer round trips next to each tokenizer, which use friendlier inputs.)
"""
import csv
import os
import json
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from framework import cli, config
from framework.errors import NlpfError

fast = settings(max_examples=int(os.environ.get("NLPF_HYPOTHESIS_EXAMPLES", 30)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# any text a person could type or paste: no lone surrogates (not encodable as UTF-8), no NUL
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


def read(kind: str, path, **options):
    from framework.data.pipeline import build_source

    node = OmegaConf.create({"name": kind, "path": str(path), "validation_ratio": 0, "test_ratio": 0, **options})
    return build_source(config.validate_component("data", node)).splits()["train"]


# ---- overrides: any string is either a valid override or a ConfigError


@fast
@given(override=st.text(max_size=30))
def test_any_override_string_is_parsed_or_refused_with_a_config_error(override):
    try:
        config.load([override])
    except NlpfError as err:
        assert err.message.strip()
    # anything else (a Hydra or OmegaConf exception) fails the test


@settings(max_examples=15, deadline=None)
@given(key=st.sampled_from(["optim.lr", "batch_size", "model.n_layer", "trainer.max_steps", "model.dropout",
                            "seed", "trainer.precision", "optim.warmup_ratio"]),
       value=st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                       st.text("abc-_.0123456789", max_size=8)))
def test_any_value_for_a_typed_key_is_accepted_or_named(key, value):
    """Wrong types and out-of-range values name the key they are about."""
    try:
        cfg = config.load([f"{key}={value!r}" if isinstance(value, str) and value else f"{key}={value}"])
    except NlpfError as err:
        assert key in err.message or key.split(".")[-1] in err.message, err.message
    else:
        assert OmegaConf.select(cfg, key) is not None


# ---- data readers: arbitrary text in CSV/JSONL/text files


def csv_cell(s: str) -> str:
    return s.strip()  # the CSV reader strips cells, like most spreadsheets


@fast
@given(rows=st.lists(st.tuples(text.filter(lambda s: s.strip()), st.sampled_from(["pos", "neg"])), min_size=1,
                     max_size=8),
       delimiter=st.sampled_from([",", "\t", ";", "|"]))
@example(rows=[("0\r\n0", "pos")], delimiter=",")  # a quoted Windows line end inside a cell (once failed CI)
def test_csv_cells_with_quotes_newlines_and_delimiters_read_back(tmp_path_factory, rows, delimiter):
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    try:
        examples = read("csv", path, delimiter=delimiter)
    except NlpfError as err:  # e.g. a cell made only of characters the reader treats as blank
        assert str(path) in err.message or "empty" in err.message
        return
    got = [(e["text"], e["label"]) for e in examples]
    expected = [(csv_cell(t), y) for t, y in rows if csv_cell(t)]
    assert [t for t, _ in got] == [t for t, _ in expected] or [csv_cell(t) for t, _ in got] == [t for t, _ in expected]
    assert [y for _, y in got] == [y for _, y in expected]


@fast
@given(rows=st.lists(st.tuples(text, st.sampled_from(["a", "b"])), min_size=1, max_size=8),
       ascii_only=st.booleans())
def test_jsonl_any_unicode_reads_back_exactly(tmp_path_factory, rows, ascii_only):
    """JSON strings keep everything: quotes, backslashes, newlines, U+2028, blanks."""
    path = tmp_path_factory.mktemp("jsonl") / "d.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}, ensure_ascii=ascii_only) + "\n" for t, y in rows),
                    encoding="utf-8")
    assert [(e["text"], e["label"]) for e in read("jsonl", path)] == rows


@fast
@given(raw=st.binary(max_size=80))
def test_any_bytes_in_a_text_corpus_read_or_name_the_line(tmp_path_factory, raw):
    """Broken UTF-8 is refused with file:line (or replaced when asked); valid text reads back line by line."""
    path = tmp_path_factory.mktemp("txt") / "corpus.txt"
    path.write_bytes(raw)
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    try:
        examples = read("text", path)
    except NlpfError as err:
        if decoded is not None:
            assert "empty" in err.message  # only blank lines
        else:
            assert f"{path}:" in err.message and "UTF-8" in err.message and "encoding_errors" in (err.hint or "")
        # with replacement the same bytes always read (or are merely empty)
        try:
            read("text", path, encoding_errors="replace")
        except NlpfError as again:
            assert "empty" in again.message
        return
    assert decoded is not None
    assert all(ex["text"] and "\n" not in ex["text"] for ex in examples)


# ---- tokenizer round trips


@pytest.fixture(scope="module")
def byte_level_bpe(tmp_path_factory):
    """A Hugging Face byte-level BPE tokenizer.json (lossless for any text) loaded through the hf plugin."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from framework.tokenizers import build_tokenizer
    from plugins.data.sets import TINY_CORPUS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_CORPUS.read_text(encoding="utf-8").splitlines(), trainer)
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    tok.save(str(path))
    return build_tokenizer(OmegaConf.create({"name": "hf", "path": str(path), "template": "none"}))


@fast
@given(s=text)
def test_hf_byte_level_bpe_round_trips_any_text(byte_level_bpe, s):
    assert byte_level_bpe.decode(byte_level_bpe.encode(s)) == s


@pytest.fixture(scope="module")
def spm_byte_fallback(tmp_path_factory):
    from framework.tokenizers import build_tokenizer
    from plugins.data.sets import TINY_CORPUS

    cfg = OmegaConf.create({"name": "sentencepiece", "vocab_size": 500, "character_coverage": 1.0,
                            "byte_fallback": True, "num_threads": 1, "model_type": "bpe"})
    return build_tokenizer(cfg, corpus=TINY_CORPUS.read_text(encoding="utf-8").splitlines(),
                           cache_dir=tmp_path_factory.mktemp("spm"))


def sentencepiece_normal_form(s: str) -> str:
    """What sentencepiece's default nmt_nfkc normaliser keeps: NFKC, whitespace runs as one space, no edges."""
    return " ".join(unicodedata.normalize("NFKC", s).split())


printable = st.text(st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), max_size=30)


@fast
@given(s=printable)
def test_sentencepiece_with_byte_fallback_round_trips_normalised_text(spm_byte_fallback, s):
    """Unknown characters survive as bytes; only sentencepiece's normalisation changes the text."""
    normal = sentencepiece_normal_form(s)
    assume(normal == sentencepiece_normal_form(normal))  # NFKC is not always idempotent with whitespace folding
    assert spm_byte_fallback.decode(spm_byte_fallback.encode(normal)) == normal


# ---- the command line never shows a raw exception for arbitrary arguments


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                             max_size=15), max_size=3))
def test_config_command_exits_0_or_2_for_any_arguments(args, capsys):
    code = cli.main(["config", *args])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
