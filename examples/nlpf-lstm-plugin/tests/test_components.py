"""Unit tests of each component, run against the installed package (`pip install -e .`, then pytest)."""
import torch

from framework import config, plugins
from framework.model import build_model
from framework.testing import check_backbone, check_data_source, check_head, check_tokenizer
from framework.tokenizers import build_tokenizer, load_tokenizer, save_tokenizer

CORPUS = ["The film was great .", "The book was awful !", "My phone was great and cheap ."]


def _node(group, option, *overrides):
    cfg = config.compose([f"{group}={option}", *overrides])
    return config.validate_component(group, cfg[group])


def _build(group, option, *args, overrides=()):
    node = _node(group, option, *overrides)
    registry = {"model": "architecture"}.get(group, group)
    return plugins.registries()[registry].get(node.name).build_fn()(node, *args)


def test_plugin_loads_with_every_component_and_its_config_dirs():
    info = {p.distribution: p for p in plugins.load_plugins().plugins}["nlpf-lstm-plugin"]
    assert info.status == "ok", info.error
    assert set(info.components) == {
        "architecture:lstm_lm", "architecture:lstm_encoder", "tokenizer:word_level",
        "objective:word_dropout_lm", "head:attentive_pooling", "data:toy_reviews",
    }
    assert info.config_dirs and info.config_dirs[0].endswith("conf")


def test_experiments_compose_and_validate():
    for experiment in ("lstm_lm", "lstm_classify"):
        cfg = config.load([f"experiment={experiment}"])
        assert cfg.tokenizer.name == "word_level" and cfg.data.name == "toy_reviews"


def test_word_tokenizer_trains_saves_and_reloads(tmp_path):
    tok = build_tokenizer(_node("tokenizer", "words"), CORPUS, cache_dir=tmp_path / "cache")
    assert tok.vocab_size == 7 + len({"the", "film", "was", "great", ".", "book", "awful", "!", "my", "phone",
                                      "and", "cheap"})
    ids = tok.encode("the film was superb .")
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id and tok.unk_id in ids
    assert tok.decode(ids, skip_special_tokens=False) == "<s> the film was <unk> . </s>"
    save_tokenizer(tok, tmp_path / "saved")
    again = load_tokenizer(tmp_path / "saved")
    assert again.encode("The film was superb .") == ids and again.fingerprint() == tok.fingerprint()


def test_word_tokenizer_offsets_and_pre_split_words():
    tok = build_tokenizer(_node("tokenizer", "words"), CORPUS)
    enc = tok.encode_batch(["the film , great"], with_offsets=True, add_special_tokens=False)[0]
    assert enc.offsets == [(0, 3), (4, 8), (9, 10), (11, 16)]
    words = tok.encode_batch([["the", "film"]], add_special_tokens=False)[0]
    assert words.word_ids == [0, 1]


def _lm(**overrides):
    torch.manual_seed(0)
    node = _node("model", "lstm_small", "model.vocab_size=50", *[f"model.{k}={v}" for k, v in overrides.items()])
    return plugins.registries().architecture.get("lstm_lm").build_fn()(node).eval()


def test_lstm_lm_is_causal_and_its_cache_matches_the_full_pass():
    model = _lm()
    ids = torch.randint(0, 50, (2, 6))
    full = model(ids, output_hidden_states=True)
    assert full.last_hidden_state.shape == (2, 6, 64) and len(full.hidden_states) == 3
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 50
    assert torch.allclose(model(changed).last_hidden_state[:, :-1], full.last_hidden_state[:, :-1])
    prefix = model(ids[:, :5], use_cache=True)
    step = model(ids[:, 5:], past_key_values=prefix.past_key_values, use_cache=True)
    assert torch.allclose(step.last_hidden_state[:, 0], full.last_hidden_state[:, 5], atol=1e-5)


def test_lstm_lm_left_padding_does_not_change_the_result():
    model = _lm()
    ids = torch.randint(1, 50, (1, 4))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1]])
    plain = model(ids).last_hidden_state[:, -1]
    left = model(padded, attention_mask=mask).last_hidden_state[:, -1]
    assert torch.allclose(plain, left, atol=1e-5)


def test_lstm_encoder_ignores_padding_and_is_bidirectional():
    torch.manual_seed(0)
    model = _build("model", "lstm_encoder_small", overrides=["model.vocab_size=50"]).eval()
    ids = torch.randint(1, 50, (1, 5))
    alone = model(ids).last_hidden_state
    padded = model(torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1),
                   attention_mask=torch.tensor([[1] * 5 + [0] * 3])).last_hidden_state
    assert torch.allclose(alone, padded[:, :5], atol=1e-5)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 50
    assert not torch.allclose(model(changed).last_hidden_state[:, 0], alone[:, 0])  # the future reaches t=0


def test_attentive_pooling_head_ignores_padding():
    torch.manual_seed(0)
    backbone = _lm()
    head = _build("head", "attentive_pooling", backbone, 3).eval()
    hidden = torch.randn(2, 5, 64)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    logits = head(hidden, mask)
    assert logits.shape == (2, 3)
    noisy = hidden.clone()
    noisy[0, 3:] = 100.0
    assert torch.allclose(head(noisy, mask)[0], logits[0], atol=1e-5)
    assert torch.allclose(head.attention(hidden, mask)[0, 3:], torch.zeros(2))


def test_word_dropout_replaces_only_words_and_only_while_training():
    tok = build_tokenizer(_node("tokenizer", "words"), CORPUS)
    objective = _build("objective", "word_dropout_lm", tok, overrides=["objective.word_dropout=0.5"])
    ids = torch.tensor([tok.encode("the film was great . the book was awful !")] * 8)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    torch.manual_seed(0)
    prepared = objective.prepare(batch)
    dropped = prepared["input_ids"] == tok.unk_id
    assert 0 < dropped.float().mean() < 1
    assert not dropped[:, 0].any() and not dropped[:, -1].any()  # <s> and </s> stay
    assert torch.equal(prepared["labels"], ids)
    with torch.no_grad():
        assert torch.equal(objective.prepare(batch)["input_ids"], ids)


def test_toy_reviews_are_deterministic_labelled_and_split():
    data = _build("data", "toy_reviews")
    splits = data.splits()
    assert {len(v) for v in splits.values()} and sum(map(len, splits.values())) == 400
    assert set(splits) == {"train", "validation", "test"}
    assert {ex["label"] for ex in splits["train"]} == {"negative", "positive"}
    assert splits == _build("data", "toy_reviews").splits()
    assert _build("data", "toy_reviews", overrides=["data.seed=1"]).splits() != splits


def test_lstm_language_model_learns_with_the_built_in_lm_head():
    tok = build_tokenizer(_node("tokenizer", "words"), CORPUS)
    cfg = config.load(["experiment=lstm_lm", "model.dropout=0.0"])
    torch.manual_seed(0)
    model = build_model(cfg, vocab_size=tok.vocab_size)
    objective = _build("objective", "word_dropout_lm", tok, overrides=["objective.word_dropout=0.0"])
    ids = torch.tensor([tok.encode(t) + [tok.pad_id] * (9 - len(tok.encode(t))) for t in CORPUS])
    batch = objective.prepare({"input_ids": ids, "attention_mask": (ids != tok.pad_id).long()})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = objective.loss(model(**objective.inputs(batch)), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_lstm_lm_right_padding_leaves_real_positions_and_the_cache_exact():
    model = _lm()
    ids = torch.randint(1, 50, (1, 4))
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    plain = model(ids, use_cache=True)
    right = model(padded, attention_mask=mask).last_hidden_state[:, :4]
    assert torch.allclose(plain.last_hidden_state, right, atol=1e-5)
    cached = model(padded, attention_mask=mask, use_cache=True).past_key_values
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(cached[-1], plain.past_key_values[-1]))


def test_every_component_passes_the_nlpf_contract_checks(tmp_path):
    torch.manual_seed(0)
    lm = _build("model", "lstm_small", overrides=["model.vocab_size=40"])
    check_backbone(lm)
    check_backbone(_build("model", "lstm_encoder_small", overrides=["model.vocab_size=40"]))
    check_head(_build("head", "attentive_pooling", lm, 2), lm, num_labels=2)
    check_tokenizer(build_tokenizer(_node("tokenizer", "words"), CORPUS), ("the film was great .",),
                    directory=tmp_path / "tok")
    for task in ("lm", "classification"):
        check_data_source(_build("data", "toy_reviews"), task)
