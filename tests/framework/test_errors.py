"""Suggestions for misspelt names."""
from framework.errors import did_you_mean, suggest

MODELS = ["bert_base", "bert_large", "bert_tiny", "gpt2", "gpt2_large", "gpt_tiny", "t5_small", "t5_tiny"]


def test_a_close_name_is_suggested_first():
    assert suggest("bert_tiy", MODELS)[0] == "bert_tiny"
    assert suggest("GPT2", MODELS)[0] == "gpt2"  # case-insensitive, original spelling returned


def test_a_misspelt_family_suggests_its_members():
    assert suggest("bret", MODELS) == ["bert_base", "bert_large", "bert_tiny"]


def test_nothing_close_gives_no_suggestion():
    assert suggest("xyz", MODELS) == [] and did_you_mean("xyz", MODELS) == ""


def test_the_sentence_lists_the_suggestions():
    assert did_you_mean("gpt2_larg", ["gpt2_large"]) == " Did you mean 'gpt2_large'?"
    assert did_you_mean("bret", MODELS) == " Did you mean 'bert_base', 'bert_large' or 'bert_tiny'?"


def test_only_near_best_matches_are_kept():
    # 't5_tiny' and 'gpt_mini' clear difflib's cutoff on the shared letters, far behind the real match
    assert suggest("gpt_tinny", MODELS + ["gpt_mini"]) == ["gpt_tiny"]
