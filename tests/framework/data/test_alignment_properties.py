"""Properties of the alignment through offsets and word ids: QA answer spans and first-sub-token labels."""
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from framework.data.pipeline import answer_token_span, encode_token_classification
from framework.tokenizers import build_tokenizer

BYTE = build_tokenizer(OmegaConf.create({"name": "byte"}))
word = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(words=st.lists(word, min_size=1, max_size=20), data=st.data())
def test_answer_span_decodes_to_the_answer(words, data):
    context = " ".join(words)
    first = data.draw(st.integers(0, len(words) - 1))
    last = data.draw(st.integers(first, len(words) - 1))
    start = len(" ".join(words[:first])) + (1 if first else 0)
    answer = " ".join(words[first:last + 1])
    enc = BYTE.encode_batch(["question?"], pair=[context], with_offsets=True)[0]
    s, e = answer_token_span(enc, start, start + len(answer))
    assert BYTE.decode(enc.ids[s:e + 1]) == answer


@settings(max_examples=60, deadline=None)
@given(words=st.lists(word, min_size=1, max_size=15))
def test_every_word_labels_exactly_one_token(words):
    tags = [["O", "B-x", "I-x"][len(w) % 3] for w in words]
    arrays = encode_token_classification([{"tokens": words, "tags": tags}], BYTE, 512, ["O", "B-x", "I-x"])
    labelled = [int(t) for t in arrays["tags"] if t != -100]
    assert labelled == [["O", "B-x", "I-x"].index(t) for t in tags]
