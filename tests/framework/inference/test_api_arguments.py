"""The Python API at its boundary: one input gives one result (as `transformers` pipelines do), a list a list; a bad
argument (a batch size, an option, an input that is not a text, a dtype) is one NlpfError naming it, never a
TypeError or ValueError from deep inside."""
from __future__ import annotations

import pytest
import torch

import framework
from framework.checkpoint import save_checkpoint
from framework.cli import main
from framework.errors import NlpfError
from tests.framework.inference.conftest import make

BERT = ["model=bert_tiny", "tokenizer=byte"]


@pytest.fixture(scope="module")
def models():
    return {
        "classification": make(BERT + ["head=sequence_classification", "objective=sequence_classification"],
                               labels=["neg", "pos"]),
        "regression": make(BERT + ["head=sequence_classification", "head.num_labels=1", "objective=sequence_regression"]),
        "multilabel": make(BERT + ["head=sequence_classification", "objective=multi_label_classification"],
                           labels=["a", "b", "c"]),
        "token_classification": make(BERT + ["head=token_classification", "objective=token_classification"],
                                     labels=["O", "B-PER", "I-PER"]),
        "qa": make(BERT + ["head=qa", "objective=qa"]),
    }



@pytest.fixture(scope="module")
def clf_dir(tmp_path_factory, models):
    path = tmp_path_factory.mktemp("api") / "clf"
    pipe = models["classification"]
    save_checkpoint(path, pipe.model, pipe.config, pipe.tokenizer)
    return path


# ---------------------------------------------------------------- one input, one result


def assert_close(a, b):
    """The same result, numbers to 1e-5."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-5)
    else:
        assert a == b


SINGLE = {
    "classification": "great film",
    "regression": "great film",
    "multilabel": "great film",
    "token_classification": "Ada visited London",
    "qa": {"question": "who?", "context": "Ada visited London today"},
}


@pytest.mark.parametrize("task", SINGLE)
def test_one_input_gives_one_result_and_a_list_a_list(models, task):
    pipe, one = models[task], SINGLE[task]
    assert pipe.task == task
    result = pipe.predict(one)
    assert isinstance(result, dict)  # not one result per character (or per key of a dict)
    batch = pipe.predict([one, one])
    assert isinstance(batch, list) and len(batch) == 2
    assert result == pipe.predict([one])[0]
    assert_close(batch[0], result)  # batched with another: the same to rounding
    assert pipe.predict((one,)) == [result] and pipe.predict(x for x in [one]) == [result]


def test_one_record_dict_gives_one_result(models):
    clf = models["classification"]
    result = clf.predict({"id": 7, "text": "great", "text_pair": "film"})
    assert isinstance(result, dict) and result["id"] == 7 and set(result["probabilities"]) == {"neg", "pos"}
    tagger = models["token_classification"]
    tagged = tagger.predict({"tokens": ["Ada", "visited", "London"]})
    assert tagged["tokens"] == ["Ada", "visited", "London"] and len(tagged["tags"]) == 3
    assert models["classification"].predict([]) == []


def test_fill_mask_one_text_gives_one_result(tmp_path):
    transformers = pytest.importorskip("transformers")
    from framework.hf import import_hf

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "is", "the", "capital", "of", "france", "."]
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(words) + "\n")
    torch.manual_seed(0)
    transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=64)).save_pretrained(tmp_path / "hf")
    import_hf(tmp_path / "hf", tmp_path / "nlpf")
    mlm = framework.load(tmp_path / "nlpf")
    assert mlm.task == "mlm"
    result = mlm.predict("paris is the [MASK] of france .", top_k=2)
    assert isinstance(result, dict) and len(result["masks"]) == 1 and len(result["masks"][0]) == 2
    assert result == mlm.predict(["paris is the [MASK] of france ."], top_k=2)[0]


def test_predict_stream_refuses_a_single_text_or_record(models):
    clf = models["classification"]
    for one in ("big.txt", {"text": "a"}):
        with pytest.raises(NlpfError, match="predict_stream reads an iterable of inputs") as err:
            clf.predict_stream(one)
        assert "predict(x)" in err.value.hint and "open(path)" in err.value.hint
    assert len(list(clf.predict_stream(iter(["a\n", {"text": "b"}])))) == 2


# ---------------------------------------------------------------- batch sizes and options

@pytest.mark.parametrize("bad", [0, -1, 2.5, "8", True, None])
def test_a_bad_batch_size_is_named(models, gpt, bad):
    clf = models["classification"]
    calls = {
        "predict": lambda: clf.predict(["a", "b"], batch_size=bad),
        "predict_stream": lambda: clf.predict_stream(["a"], batch_size=bad),
        "embed": lambda: clf.embed(["a", "b"], batch_size=bad),
        "generate": lambda: gpt.generate(["a", "b"], batch_size=bad, max_new_tokens=2),
        "score": lambda: gpt.score(["a", "b"], batch_size=bad),
        "rescore": lambda: gpt.rescore([{"id": 1, "hypotheses": [{"text": "a", "score": 0.0}]}], batch_size=bad),
    }
    for method, call in calls.items():
        said = "predict" if method == "predict_stream" else method
        with pytest.raises(NlpfError, match=f"{said}: invalid value .* for 'batch_size': a whole number, at least 1"):
            call()
    with pytest.raises(NlpfError, match="invalid value 0 .* for 'chunk_size'"):
        clf.predict_stream(["a"], chunk_size=0)


def test_numpy_style_integers_are_batch_sizes(models):
    class Index:  # numpy.int64 and friends: not int, but an integer by __index__
        def __index__(self):
            return 2

    assert len(models["classification"].predict(["a", "b", "c"], batch_size=Index())) == 3


def test_a_misspelt_predict_option_gets_a_did_you_mean(models):
    with pytest.raises(NlpfError, match="unknown predict option 'top_kk'. Did you mean 'top_k'") as err:
        models["classification"].predict(["a"], top_kk=2)
    assert "threshold" in err.value.hint  # lists the options
    with pytest.raises(NlpfError, match="unknown predict option 'max_answer_len'. Did you mean 'max_answer_length'"):
        models["qa"].predict(SINGLE["qa"], max_answer_len=5)  # transformers' name


@pytest.mark.parametrize("option, value, says", [
    ("top_k", 0, "invalid value 0 .* for 'top_k'"),  # was silently the default (1)
    ("top_k", -2, "invalid value -2 .* for 'top_k'"),
    ("max_length", "64", "invalid value '64' .* for 'max_length'"),
    ("text_field", None, "invalid value None for 'text_field': the name of a field"),
    ("pair_field", 3, "invalid value 3 .* for 'pair_field'"),
])
def test_bad_predict_option_values_are_named(models, option, value, says):
    with pytest.raises(NlpfError, match=says):
        models["classification"].predict(["a"], **{option: value})


def test_a_threshold_that_is_not_a_number_is_named(models):
    with pytest.raises(NlpfError, match="invalid value 'high' .* for 'threshold': a probability"):
        models["multilabel"].predict(["a"], threshold="high")


# ---------------------------------------------------------------- inputs that are not texts

def test_predict_names_the_example_that_is_not_a_text(models):
    clf = models["classification"]
    with pytest.raises(NlpfError, match="example 1: None is not a text or a record"):
        clf.predict([None])
    with pytest.raises(NlpfError, match=r"example 2: 5 \(int\) is not a text or a record") as err:
        clf.predict(["a", 5])
    assert "str(x)" in err.value.hint
    with pytest.raises(NlpfError, match=r"predict: the input is None"):
        clf.predict(None)
    with pytest.raises(NlpfError, match=r"predict: the input is 5 \(int\)"):
        clf.predict(5)
    # in a record a number is the text it is written as, as the CLI and training read JSON
    assert clf.predict({"text": 5}) == clf.predict("5")


@pytest.mark.parametrize("prompts, says", [
    (123, r"generate: prompts is 123 \(int\), not a string or a list of strings"),
    ([1, 2], r"generate: prompts\[0\] is 1 \(int\), not a string"),
    (["a", None], r"generate: prompts\[1\] is None, not a string"),
    (None, "generate: prompts is None"),
    ({"text": "a"}, "generate: prompts is .*dict"),  # not generated from its keys
])
def test_generate_refuses_prompts_that_are_not_texts(gpt, prompts, says):
    with pytest.raises(NlpfError, match=says) as err:
        gpt.generate(prompts, max_new_tokens=2)
    if isinstance(prompts, int) or prompts == [1, 2]:
        assert "generate_tokens" in err.value.hint  # token ids are for generate_tokens


def test_generate_checks_details_and_on_text(gpt):
    with pytest.raises(NlpfError, match="generate: on_text is 'x' .*, not a function"):
        gpt.generate("a", on_text="x", max_new_tokens=2)
    with pytest.raises(NlpfError, match="invalid value 'yes' .* for 'details'"):
        gpt.generate("a", details="yes", max_new_tokens=2)


def test_score_and_rescore_refuse_bad_arguments(gpt, t5):
    with pytest.raises(NlpfError, match=r"score: texts\[0\] is None, not a string"):
        gpt.score([None])
    with pytest.raises(NlpfError, match=r"score: texts is 5 \(int\)"):
        gpt.score(5)
    with pytest.raises(NlpfError, match="invalid value 'yes' .* for 'tokens'"):
        gpt.score("a", tokens="yes")
    with pytest.raises(NlpfError, match=r"score: sources\[0\] is None, not a string"):
        t5.score(["a"], sources=[None])
    nbest = [{"id": 1, "hypotheses": [{"text": "a", "score": 0.0}]}]
    with pytest.raises(NlpfError, match="rescore: invalid value 'high' .* for 'lm_weight': expected a finite number"):
        gpt.rescore(nbest, lm_weight="high")
    with pytest.raises(NlpfError, match="rescore: nbest is .*dict.*, not a list of n-best items"):
        gpt.rescore(nbest[0])


def test_embed_refuses_inputs_that_are_not_texts(models):
    clf = models["classification"]
    with pytest.raises(NlpfError, match=r"embed: texts\[0\] is None, not a string"):
        clf.embed([None])
    with pytest.raises(NlpfError, match=r"embed: texts is 5 \(int\), not a string or a list of strings"):
        clf.embed(5)
    with pytest.raises(NlpfError, match="invalid value 'false' .* for 'normalize': expected True or False"):
        clf.embed("a", normalize="false")  # a non-empty string would count as true
    assert clf.embed("a").shape == clf.embed(["a"])[0].shape


# ---------------------------------------------------------------- framework.load(path, device=, dtype=)

@pytest.mark.parametrize("dtype", ["bfloat16", "bf16", torch.bfloat16])
def test_load_casts_to_the_dtype_the_commands_take(clf_dir, dtype):
    pipe = framework.load(clf_dir, device="cpu", dtype=dtype)
    assert {p.dtype for p in pipe.model.parameters()} == {torch.bfloat16}
    assert set(pipe.predict("great film")["probabilities"]) == {"neg", "pos"}
    default = framework.load(clf_dir, device=torch.device("cpu"))
    assert {p.dtype for p in default.model.parameters()} == {torch.float32}
    assert {p.dtype for p in framework.load(clf_dir, dtype="float32").model.parameters()} == {torch.float32}


@pytest.mark.parametrize("dtype, says", [
    ("bfloat", "unknown dtype 'bfloat'. Did you mean 'bfloat16'"),
    ("float16", "unknown dtype 'float16'"),
    (torch.float16, "unknown dtype 'float16'"),
    (16, r"unknown dtype 16 \(int\)"),
])
def test_load_refuses_an_unknown_dtype_before_loading(tmp_path, dtype, says):
    with pytest.raises(NlpfError, match=says) as err:
        framework.load(tmp_path / "not_loaded_at_all", dtype=dtype)  # checked before the path is read
    assert "dtype=float32|bfloat16" in err.value.hint


def test_load_names_an_unknown_argument(clf_dir):
    with pytest.raises(NlpfError, match="unknown argument 'dtyp' of framework.load. Did you mean 'dtype'"):
        framework.load(clf_dir, dtyp="bfloat16")
    with pytest.raises(NlpfError, match="unknown argument 'torch_dtype'") as err:
        framework.load(clf_dir, torch_dtype=torch.bfloat16)
    assert "dtype=" in err.value.hint


def test_the_commands_take_the_same_dtypes(clf_dir, tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_text("great film\n")
    assert main(["predict", f"ckpt={clf_dir}", f"input={data}", "dtype=bf16"]) == 0
    capsys.readouterr()
    assert main(["predict", f"ckpt={clf_dir}", f"input={data}", "dtype=bfloat"]) == 2
    assert "unknown dtype 'bfloat'. Did you mean 'bfloat16'" in capsys.readouterr().err
