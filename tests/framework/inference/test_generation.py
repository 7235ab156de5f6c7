"""Decoding on tiny random nlpf models: the cache, padding and the options must not change results."""
from __future__ import annotations

import inspect
import re

import pytest
import torch

from framework.errors import NlpfError
from framework.inference.api import InferenceMixin, TextStream
from framework.inference.generation import first_argmax, resolve_options
from framework.inference.options import GenerationOptions

PROMPTS = ["The cat", "A much longer prompt about dogs", "x"]


def ids_of(results):
    return [[g.token_ids for g in hyps] for hyps in results]


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3, num_return_sequences=2),
                                     dict(num_beams=2, length_penalty=0.5, early_stopping=True),
                                     dict(repetition_penalty=1.5)])
@pytest.mark.parametrize("which", ["gpt", "t5"])
def test_cache_gives_the_same_tokens(request, which, options):
    pipe = request.getfixturevalue(which)
    ids, mask = pipe._encode_prompts(PROMPTS[:2])
    cached = pipe.generate_tokens(ids, mask, max_new_tokens=12, use_cache=True, **options)
    uncached = pipe.generate_tokens(ids, mask, max_new_tokens=12, use_cache=False, **options)
    assert ids_of(cached) == ids_of(uncached)
    assert all(len(g.token_ids) > 0 for hyps in cached for g in hyps)


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3), dict(repetition_penalty=1.3),
                                     dict(no_repeat_ngram_size=2), dict(num_beams=3, no_repeat_ngram_size=2)])
@pytest.mark.parametrize("which", ["gpt", "t5"])
def test_batched_with_padding_equals_one_by_one(request, which, options):
    pipe = request.getfixturevalue(which)
    ids, mask = pipe._encode_prompts(PROMPTS)
    assert bool((mask == 0).any())  # the batch really is padded (left for gpt, right for t5)
    batched = pipe.generate_tokens(ids, mask, max_new_tokens=10, **options)
    single = []
    for p in PROMPTS:
        i, m = pipe._encode_prompts([p])
        single.extend(pipe.generate_tokens(i, m, max_new_tokens=10, **options))
    assert ids_of(batched) == ids_of(single)


def test_greedy_picks_the_argmax_of_a_full_forward(gpt):
    ids, mask = gpt._encode_prompts(["hello"])
    out = gpt.generate_tokens(ids, mask, max_new_tokens=5)[0][0].token_ids
    seq = ids[0].tolist()
    with torch.no_grad():
        for _ in range(5):
            logits = gpt.model(torch.tensor([seq])).logits[0, -1]
            seq.append(int(logits.argmax()))
    assert out == seq[-5:]


def test_sampling_is_reproducible_with_a_seed_and_varies_without(gpt):
    a = gpt.generate("The", do_sample=True, seed=7, max_new_tokens=16, details=True)[0].token_ids
    b = gpt.generate("The", do_sample=True, seed=7, max_new_tokens=16, details=True)[0].token_ids
    c = gpt.generate("The", do_sample=True, seed=8, max_new_tokens=16, details=True)[0].token_ids
    assert a == b and a != c


def test_top_k_one_sampling_is_greedy(gpt):
    greedy = gpt.generate("abc", max_new_tokens=8, details=True)[0].token_ids
    sampled = gpt.generate("abc", do_sample=True, top_k=1, seed=3, max_new_tokens=8, details=True)[0].token_ids
    tiny_p = gpt.generate("abc", do_sample=True, top_p=1e-6, seed=3, max_new_tokens=8, details=True)[0].token_ids
    assert sampled == greedy == tiny_p


def test_num_return_sequences_and_beam_scores_are_sorted(gpt):
    hyps = gpt.generate("The cat", num_beams=4, num_return_sequences=3, max_new_tokens=6, details=True)
    assert len(hyps) == 3
    scores = [g.score for g in hyps]
    assert scores == sorted(scores, reverse=True)
    texts = gpt.generate(["a", "b"], do_sample=True, num_return_sequences=2, seed=0, max_new_tokens=4)
    assert len(texts) == 2 and all(len(t) == 2 for t in texts)


def test_stop_strings_cut_the_text(gpt):
    full = gpt.generate("The", max_new_tokens=20, details=True)[0]
    stop = full.text[3:5]
    assert stop and stop in full.text
    cut = gpt.generate("The", max_new_tokens=20, stop=[stop], details=True)[0]
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[:full.text.find(stop)]
    assert len(cut.token_ids) < len(full.token_ids)


def test_min_new_tokens_blocks_eos(gpt):
    eos = gpt.tokenizer.eos_id
    # make eos the most likely token everywhere by biasing the tied output projection's row
    head = gpt.model.head
    old = head.proj.weight.data[eos].clone()
    try:
        head.proj.weight.data[eos] *= 0
        ids, mask = gpt._encode_prompts(["a"])
        with torch.no_grad():
            bias = torch.zeros(head.proj.weight.shape[0])
            bias[eos] = 100.0
            head.bias = torch.nn.Parameter(bias)
        assert gpt.generate_tokens(ids, mask, max_new_tokens=5)[0][0].token_ids == []
        out = gpt.generate_tokens(ids, mask, max_new_tokens=5, min_new_tokens=3)[0][0]
        assert len(out.token_ids) == 3 and out.finish_reason == "eos"
    finally:
        head.proj.weight.data[eos] = old
        head.bias = None


def test_streaming_callback_sees_the_final_text(gpt):
    pieces = []
    text = gpt.generate("Hi", max_new_tokens=12, on_text=pieces.append)
    assert "".join(pieces) == text


def test_streamed_text_never_shows_the_stop_string(gpt):
    full = gpt.generate("The", max_new_tokens=20)
    stop = full[3:6]
    pieces = []
    cut = gpt.generate("The", max_new_tokens=20, stop=[stop], on_text=pieces.append)
    assert "".join(pieces) == cut == full[:full.find(stop)]


class _Chars:
    """A tokenizer whose token i is the i-th string of `pieces`."""

    def __init__(self, pieces):
        self.pieces = pieces

    def decode(self, ids):
        return "".join(self.pieces[i] for i in ids)


@pytest.mark.parametrize("pieces, stops, shown", [
    (["Hel", "lo wo", "rld. Bye"], ["world"], ["Hel", "lo "]),  # held back while "wo" may start the stop
    (["ab", "c ST", "OP x"], ["STOP"], ["ab", "c "]),  # the stop spans two tokens
    (["ab", "c!", "d"], ["STOP"], ["ab", "c!", "d"]),  # a stop that never comes holds nothing back at the end
    (["a S", "T", "x"], ["STOP"], ["a ", "STx"]),  # a held-back start that turns out not to be the stop is printed
])
def test_text_stream_holds_back_a_possible_stop(pieces, stops, shown):
    out = []
    stream = TextStream(_Chars(pieces), out.append, stops)
    for i in range(len(pieces)):
        stream(0, i)
    text = "".join(pieces)
    cut = text[:text.find(stops[0])] if stops[0] in text else text
    stream.finish(cut)
    assert "".join(out) == cut
    assert out[:len(shown)] == shown


def test_option_typos_are_reported_with_suggestions():
    with pytest.raises(NlpfError, match="num_beams"):
        resolve_options(num_beam=3)
    with pytest.raises(NlpfError, match="beam"):
        resolve_options(strategy="beams")
    with pytest.raises(NlpfError, match="top_p"):
        resolve_options(top_p=1.5)
    with pytest.raises(NlpfError, match="num_return_sequences"):
        resolve_options(num_beams=2, num_return_sequences=3)


def test_generation_refuses_a_classifier():
    from tests.framework.inference.conftest import make

    clf = make(["model=bert_tiny", "head=sequence_classification", "objective=sequence_classification",
                "tokenizer=byte"], labels=["neg", "pos"])
    with pytest.raises(NlpfError, match="classification"):
        clf.generate("hello")


LIMIT = 16  # positions of the short-table model below


@pytest.fixture(scope="module")
def short_table():
    """A GPT with a 16-position table, and the same weights with a 32-position table (first 16 rows equal)."""
    from tests.framework.inference.conftest import GPT, make

    small = make(GPT + [f"model.n_positions={LIMIT}", f"max_length={LIMIT}"])
    big = make(GPT + [f"model.n_positions={2 * LIMIT}", f"max_length={LIMIT}"])
    with torch.no_grad():
        for ps, pb in zip(small.model.parameters(), big.model.parameters()):
            pb[:ps.shape[0]].copy_(ps)
    return small, big


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3, num_return_sequences=2), dict(do_sample=True, seed=3),
                                     dict(use_cache=False), dict(num_beams=2, use_cache=False)])
@pytest.mark.parametrize("prompts", [["abcdefghij"], ["abcdefghij", "abcd"]], ids=["alone", "left_padded"])
def test_generation_reads_up_to_the_last_position(short_table, prompts, options, monkeypatch):
    """The last new token is never fed back, so prompt + max_new_tokens - 1 positions are read (as in
    `transformers`): at that boundary the tokens are those of a larger table, and a preallocated cache fits
    exactly; one token more is refused."""
    from framework.modules.kv_cache import LayerCache

    small, big = short_table
    sizes, allocate = [], LayerCache._allocate

    def recording(self, k, v, size):
        sizes.append(size)
        return allocate(self, k, v, size)

    monkeypatch.setattr(LayerCache, "_allocate", recording)
    ids, mask = small._encode_prompts(prompts)
    new = LIMIT + 1 - ids.shape[1]
    out = small.generate_tokens(ids, mask, max_new_tokens=new, eos_token_id=[], **options)
    assert all(len(g.token_ids) == new for hyps in out for g in hyps)
    assert ids_of(out) == ids_of(big.generate_tokens(ids, mask, max_new_tokens=new, eos_token_id=[], **options))
    if options.get("use_cache", True):
        assert sizes and set(sizes) == {LIMIT}  # allocated once per layer, never grown
    with pytest.raises(NlpfError, match=f"(?s)needs {LIMIT + 1} positions.*n_positions={LIMIT}.*at most {new}"):
        small.generate_tokens(ids, mask, max_new_tokens=new + 1)


def test_greedy_scores_are_summed_log_probabilities(gpt):
    ids, mask = gpt._encode_prompts(["score me"])
    g = gpt.generate_tokens(ids, mask, max_new_tokens=4, with_scores=True)[0][0]
    seq = ids[0].tolist()
    total = 0.0
    with torch.no_grad():
        for t in g.token_ids:
            total += float(gpt.model(torch.tensor([seq])).logits[0, -1].log_softmax(-1)[t])
            seq.append(t)
    assert g.score == pytest.approx(total, abs=1e-3)
    assert gpt.generate_tokens(ids, mask, max_new_tokens=4)[0][0].score is None


def test_beam_search_honours_stop_strings(gpt):
    full = gpt.generate("The", num_beams=2, max_new_tokens=12, details=True)[0]
    stop = full.text[2:4]
    cut = gpt.generate("The", num_beams=2, max_new_tokens=12, stop=stop, details=True)[0]
    assert stop not in cut.text and len(cut.token_ids) < 12


def _repeated_ngrams(prompt, output, n):
    """n-grams that end in the output and already occurred earlier in prompt + output."""
    seq = prompt + output
    return [tuple(seq[j - n + 1:j + 1]) for j in range(len(prompt), len(seq))
            if tuple(seq[j - n + 1:j + 1]) in {tuple(seq[i - n + 1:i + 1]) for i in range(n - 1, j)}]


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3)])
def test_no_repeat_ngram_size_blocks_repeats_of_prompt_and_output(gpt, options):
    ids, mask = gpt._encode_prompts(["the the cat"])
    prompt = ids[0].tolist()
    free = gpt.generate_tokens(ids, mask, max_new_tokens=30, eos_token_id=[], **options)[0][0].token_ids
    assert _repeated_ngrams(prompt, free, 2)  # the model repeats itself when free to
    blocked = gpt.generate_tokens(ids, mask, max_new_tokens=30, eos_token_id=[], no_repeat_ngram_size=2,
                                  **options)[0][0].token_ids
    assert len(blocked) == 30 and _repeated_ngrams(prompt, blocked, 2) == []


def test_no_repeat_ngram_size_must_not_be_negative():
    with pytest.raises(NlpfError, match="no_repeat_ngram_size"):
        resolve_options(no_repeat_ngram_size=-1)


@pytest.mark.parametrize("rows, vocab", [(1, 50257), (8, 32128), (3, 4096), (2, 300)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_first_argmax_is_argmax_with_ties_infinities_and_nan(rows, vocab, dtype):
    g = torch.Generator().manual_seed(vocab)
    for trial in range(30):
        scores = torch.randint(-4, 4, (rows, vocab), generator=g).to(dtype)  # many ties
        if trial % 3 == 0:
            scores[:, -2:] = 10.0  # the maximum at the very end
        if trial % 5 == 0:
            scores[0] = -float("inf")  # every token blocked
        if trial % 7 == 0:
            scores[-1, [3, vocab // 2]] = float("nan")  # torch counts a NaN as the maximum
        assert torch.equal(first_argmax(scores), scores.argmax(-1))


@pytest.mark.parametrize("options", [dict(), dict(num_beams=3, num_return_sequences=2)], ids=["greedy", "beam"])
def test_a_stop_on_the_last_allowed_token_is_a_stop_not_the_length(gpt, options):
    """finish_reason says `stop` whenever a stop string ended the text, also when the token that completed it
    was the last one max_new_tokens allowed (beam search used to say `length` there, unlike greedy)."""
    ids, mask = gpt._encode_prompts(["The"])
    three = lambda row, tokens: len(tokens) >= 3  # a stop string that always completes at the third token
    for budget in (3, 4):
        hyps = gpt.generate_tokens(ids, mask, max_new_tokens=budget, eos_token_id=[], stop_check=three, **options)[0]
        assert [(len(g.token_ids), g.finish_reason) for g in hyps] == [(3, "stop")] * len(hyps)


@pytest.mark.parametrize("value, means", [(1, True), (0, False), (1.0, True), ("TRUE", True), (True, True),
                                          ("never", "never")])
def test_early_stopping_one_means_true(value, means):
    """Beam search tests `early_stopping is True`: early_stopping=1 (a YAML integer on the command line) used to
    pass the check and then act as false."""
    assert resolve_options(num_beams=2, early_stopping=value).early_stopping is means


@pytest.mark.parametrize("key, ours", [("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")])
def test_transformers_total_lengths_point_to_the_new_token_options(key, ours):
    """A transformers user's max_length=50 was answered "Did you mean 'length_penalty'?"."""
    with pytest.raises(NlpfError, match=f"unknown generation option '{key}'") as err:
        resolve_options(**{key: 50})
    assert f"use {ours}=N" in err.value.hint and "length_penalty" not in str(err.value)


def test_the_generate_docstring_lists_every_option_it_takes():
    """`help(pipe.generate)` is where Python users look the options up: every parameter and every
    `GenerationOptions` field (the **options) is named there."""
    doc = InferenceMixin.generate.__doc__
    params = [p for p in inspect.signature(InferenceMixin.generate).parameters if p not in ("self", "options")]
    missing = [name for name in params + list(GenerationOptions.__dataclass_fields__)
               if not re.search(rf"\b{name}\b", doc)]
    assert not missing, f"not in the generate docstring: {missing}"
