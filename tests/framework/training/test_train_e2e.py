"""Tiny end-to-end runs through the CLI: one per architecture family, evaluate, init_from, errors."""
import json
from pathlib import Path

import pytest
import torch

from framework import cli

TINY = ["max_length=32", "batch_size=8", "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1"]
SMALL = ["data.max_examples=24"]


def train(run_dir, *overrides):
    code = cli.main(["train", f"run_dir={run_dir}", *TINY, *overrides])
    assert code == 0
    return Path(run_dir)


def assert_run_dir(run: Path):
    assert (run / "resolved.yaml").is_file()
    for which in ("last", "best"):
        ckpt = run / "checkpoints" / which
        for name in ("model.safetensors", "config.yaml", "meta.json", "tokenizer/tokenizer.yaml"):
            assert (ckpt / name).is_file(), f"{which}/{name} missing"
    assert (run / "checkpoints" / "lightning" / "last.ckpt").is_file()
    assert (run / "logs" / "metrics.csv").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] >= 2
    return metrics


def test_gpt_causal_lm_default_config(tmp_path, capsys):
    run = train(tmp_path / "gpt", *SMALL, "trainer.loggers=[csv,tensorboard]")
    metrics = assert_run_dir(run)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert 1 < metrics["test"]["perplexity"] < 1e4
    out, err = capsys.readouterr()
    assert "test perplexity" in out
    # trainer.precision=auto is resolved for this CPU, and the run directory records the value used
    resolved = (run / "resolved.yaml").read_text()
    assert "precision: auto" not in resolved and "trainer.precision=auto: " in err
    meta = json.loads((run / "checkpoints" / "last" / "meta.json").read_text())
    assert meta["step"] == metrics["global_step"] and any(p["name"] == "objectives" for p in meta["plugins"])

    # a second run into the same directory would test the first run's best checkpoint: refused
    assert cli.main(["train", f"run_dir={run}", *TINY, *SMALL]) == 2
    assert "already holds a run" in capsys.readouterr().err

    # evaluate loads the checkpoint alone
    assert cli.main(["evaluate", f"ckpt={run / 'checkpoints' / 'last'}", "split=validation"]) == 0
    assert "validation perplexity" in capsys.readouterr().out


def test_bert_masked_lm(tmp_path):
    metrics = assert_run_dir(train(tmp_path / "bert", *SMALL, "model=bert_tiny", "head=bert_mlm", "objective=masked_lm"))
    assert metrics["test"]["loss"] > 0


def test_t5_span_corruption(tmp_path):
    metrics = assert_run_dir(train(tmp_path / "t5", *SMALL, "model=t5_tiny", "head=t5_lm", "objective=span_corruption",
                                   "tokenizer.num_sentinels=20", "tokenizer.template=eos"))
    assert metrics["test"]["loss"] > 0


def test_classification_from_own_pretrained_checkpoint(tmp_path, capsys):
    pre = train(tmp_path / "pre", *SMALL, "model=bert_tiny", "head=bert_mlm", "objective=masked_lm")
    data = tmp_path / "reviews.csv"
    rows = ["text,label"] + [f"{'good great fine' if i % 2 else 'bad awful poor'} film number {i},"
                             f"{'pos' if i % 2 else 'neg'}" for i in range(60)]
    data.write_text("\n".join(rows) + "\n")
    # no model=: the checkpoint's architecture (an encoder) is checked against the objective, not the default GPT
    run = train(tmp_path / "cls", "head=sequence_classification",
                "objective=sequence_classification", "data=csv", f"data.path={data}", f"init_from={pre}")
    assert "loaded the backbone (new head)" in capsys.readouterr().err
    metrics = assert_run_dir(run)
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "f1_pos"}
    # evaluate from the best checkpoint alone reproduces the test accuracy of the run
    capsys.readouterr()
    assert cli.main(["evaluate", f"ckpt={run}"]) == 0
    printed = dict(line.rsplit(" ", 1) for line in capsys.readouterr().out.splitlines() if line.startswith("test "))
    assert abs(float(printed["test accuracy"]) - metrics["test"]["accuracy"]) < 1e-4  # printed with 4 decimals
    cfg = (run / "checkpoints" / "best" / "config.yaml").read_text()
    assert "- neg" in cfg and "- pos" in cfg  # labels recorded

    # the fine-tuned model started from the pretrained backbone: the position embeddings past max_length
    # get no gradient, only weight decay, so they still match the pretrained ones closely
    from safetensors.torch import load_file

    a = load_file(str(pre / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(run / "checkpoints" / "last" / "model.safetensors"))
    key = next(k for k in a if "position" in k)
    assert torch.allclose(a[key][40:], b[key][40:], rtol=1e-2, atol=1e-6)

    # an objective that does not fit the checkpoint's architecture is still refused, naming it
    capsys.readouterr()
    assert cli.main(["train", "objective=causal_lm", "head=lm", f"init_from={pre}", f"run_dir={tmp_path / 'no'}"]) == 2
    assert "does not work with architecture 'bert'" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_wrong_objective_for_architecture_is_a_config_error(tmp_path, capsys):
    code = cli.main(["train", "objective=span_corruption", "model=gpt_tiny", f"run_dir={tmp_path / 'x'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "span_corruption" in err and "decoder" in err and "hint:" in err
    assert not (tmp_path / "x").exists()  # nothing was written


def test_16_mixed_on_cpu_is_refused(tmp_path, capsys):
    assert cli.main(["train", "trainer.precision=16-mixed", f"run_dir={tmp_path / 'y'}"]) == 2
    assert "bf16-mixed" in capsys.readouterr().err


def test_validation_interval_longer_than_an_epoch_names_the_key(tmp_path, capsys):
    # Lightning checks it only when fit starts; the error names our key and leaves no run directory
    assert cli.main(["train", f"run_dir={tmp_path / 'v'}", *TINY, *SMALL, "trainer.val_check_interval=1000"]) == 2
    err = capsys.readouterr().err
    assert "trainer.val_check_interval=1000 is more than the" in err and "trainer.val_check_interval=null" in err
    assert not (tmp_path / "v").exists()


def test_unknown_init_from(tmp_path, capsys):
    assert cli.main(["train", f"init_from={tmp_path}", f"run_dir={tmp_path / 'z'}"]) == 2
    assert "no nlpf checkpoint" in capsys.readouterr().err


def test_report_renders_curves(tmp_path, capsys):
    run = tmp_path / "r"
    (run / "logs").mkdir(parents=True)
    (run / "logs" / "metrics.csv").write_text(
        "epoch,step,train/loss,val/loss,val/accuracy,lr-AdamW/pg1\n"
        "0,1,2.0,,,0.001\n0,2,1.5,,,0.0009\n0,2,,1.4,0.6,\n1,4,1.0,,,0.0005\n1,4,,1.1,0.7,\n")
    from framework.training.report import panels, read_log

    series = read_log(run)
    assert series["val/accuracy"] == [(2.0, 0.6), (4.0, 0.7)]
    assert [t for t, _ in panels(series)] == ["loss", "accuracy", "learning rate"]
    assert cli.main(["report", str(run)]) == 0
    png = (run / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    for out, says in ((tmp_path, "is a directory"), (tmp_path / "r.txt", "drawn as .png, .pdf, .svg"),
                      (tmp_path / "nodir" / "r.png", "does not exist")):
        assert cli.main(["report", str(run), f"out={out}"]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "nodir").exists() and not (tmp_path.parent / f"{tmp_path.name}.png").exists()
    assert cli.main(["report", str(run), f"outt={tmp_path / 'r.png'}"]) == 2
    assert "Did you mean 'out'" in capsys.readouterr().err
    assert cli.main(["report", str(run), f"out={tmp_path / 'r.svg'}"]) == 0 and (tmp_path / "r.svg").is_file()


def test_t5_seq2seq_reports_bleu_next_to_copy_baseline(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"en": f"the cat number {i} sleeps", "fr": f"le chat numero {i} dort"}) + "\n"
                             for i in range(40)))
    run = train(tmp_path / "s2s", "model=t5_tiny", "head=t5_lm", "objective=seq2seq", "data=jsonl",
                f"data.path={pairs}", "data.text_field=null", "data.label_field=null",
                "+data.columns={source: en, target: fr}", "tokenizer.template=eos")
    test = assert_run_dir(run)["test"]
    assert {"bleu", "chrf", "copy_bleu", "copy_chrf"} <= set(test)
    assert 0 < test["copy_chrf"] < 100

    # evaluate decodes with the options of nlpf translate: beam search gives BLEU and chrF of its own
    # outputs (checked against translation_scores called directly with the same options)
    from framework.checkpoint import load_checkpoint
    from framework.data.pipeline import build_source
    from framework.tokenizers import load_tokenizer
    from framework.training.translation import translation_scores

    ckpt = run / "checkpoints" / "best"
    capsys.readouterr()
    assert cli.main(["evaluate", f"ckpt={ckpt}", "num_beams=3", "no_repeat_ngram_size=2"]) == 0
    printed = dict(line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.startswith("test "))
    model, cfg = load_checkpoint(ckpt)
    direct = translation_scores(model.eval(), load_tokenizer(ckpt / "tokenizer"), cfg, build_source(cfg.data).splits()["test"],
                                num_beams=3, no_repeat_ngram_size=2)
    greedy = translation_scores(model, load_tokenizer(ckpt / "tokenizer"), cfg, build_source(cfg.data).splits()["test"])
    assert direct["copy_bleu"] == greedy["copy_bleu"] == test["copy_bleu"]
    assert float(printed["bleu"]) == pytest.approx(direct["bleu"], abs=1e-4)
    assert float(printed["chrf"]) == pytest.approx(direct["chrf"], abs=1e-4)
    for args, words in ((["num_beams=0"], "num_beams"), (["num_return_sequences=2", "num_beams=2"], "one output"),
                        (["num_beam=2"], "num_beams")):
        assert cli.main(["evaluate", f"ckpt={ckpt}", *args]) == 2
        assert words in capsys.readouterr().err


def test_evaluate_parses_decoding_options_as_translate_does():
    from framework.training.commands import _decoding

    assert _decoding(["stop= x", "num_beams=2"]) == {"stop": " x", "num_beams": 2}  # the stop keeps its space


def test_activation_checkpointing_trains_the_same_model(tmp_path):
    runs = {}
    for flag in ("false", "true"):
        run = train(tmp_path / flag, *SMALL, "trainer.max_steps=3", "model.dropout=0.1",
                    f"trainer.activation_checkpointing={flag}")
        runs[flag] = json.loads((run / "metrics.json").read_text())["test"]["loss"]
    assert runs["true"] == pytest.approx(runs["false"], rel=1e-6)


def test_activation_checkpointing_needs_transformer_layers():
    from framework.errors import ConfigError
    from framework.training.commands import _checkpoint_activations

    with pytest.raises(ConfigError, match="no transformer layers"):
        _checkpoint_activations(torch.nn.LSTM(4, 4))


def test_init_from_refuses_overrides_that_ask_for_another_architecture(tmp_path, capsys):
    """The checkpoint's architecture replaces the config's: an override it would silently drop is an error."""
    from framework import cli

    run = tmp_path / "base"
    assert cli.main(["train", "model=bert_tiny", "head=bert_mlm", "objective=masked_lm", "tokenizer.template=cls_sep",
                     "trainer.max_steps=2", "max_length=32", "batch_size=4", "trainer.enable_progress_bar=false",
                     f"run_dir={run}"]) == 0
    capsys.readouterr()
    for overrides, says in ((["model=bert_tiny", "model.num_hidden_layers=3"], "holds num_hidden_layers=2"),
                            (["model=bert_base"], "holds hidden_size=128"),
                            (["model=gpt_tiny"], "holds a 'bert' model"),
                            (["tokenizer=sentencepiece_bpe"], "keeps the tokenizer saved in"),
                            (["tokenizer.template=eos"], "keeps the tokenizer saved in")):
        assert cli.main(["train", f"init_from={run}", *overrides, f"run_dir={tmp_path / 'ft'}"]) == 2
        err = capsys.readouterr().err
        assert overrides[-1] in err and "conflicts with init_from" in err and says in err, err
        assert not (tmp_path / "ft").exists()
    assert cli.main(["config", f"init_from={run}", "objective=masked_lm", "head=bert_mlm", "model.dropout=0.3",
                     "tokenizer.template=cls_sep"]) == 0  # the saved tokenizer's own value is no conflict
    out = capsys.readouterr().out
    assert out.startswith(f"# model and tokenizer: from init_from={run}") and "dropout: 0.3" in out


def test_sequence_regression_trains_evaluates_and_predicts_scores(tmp_path, capsys):
    """A numeric label per text (here: how many 'good' words it has, over 4): MSE training, regression
    metrics, a one-output head recorded in the checkpoint, and predict giving numbers."""
    import random

    rng = random.Random(0)
    rows = ["text\tlabel"]
    for _ in range(400):
        good = rng.randint(0, 4)
        words = ["good"] * good + ["film"] * (4 - good)
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{good / 4}")
    (tmp_path / "ratings.tsv").write_text("\n".join(rows) + "\n")
    run = train(tmp_path / "reg", "model=bert_tiny", "head=sequence_classification", "objective=sequence_regression",
                "tokenizer=byte", "tokenizer.template=cls_sep", "data=csv", f"data.path={tmp_path / 'ratings.tsv'}",
                "trainer.max_epochs=6", "optim.lr=1e-3", "head.pooling=mean")
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert set(metrics) == {"loss", "mse", "mae", "pearson", "spearman"}
    assert metrics["pearson"] > 0.8 and metrics["mse"] < 0.05, metrics  # the labels' variance is 0.125
    assert "num_labels: 1" in (run / "checkpoints" / "best" / "config.yaml").read_text()
    capsys.readouterr()
    (tmp_path / "new.txt").write_text("good good good good\nfilm film film film\n")
    assert cli.main(["predict", f"ckpt={run}", f"input={tmp_path / 'new.txt'}"]) == 0
    high, low = [json.loads(line)["score"] for line in capsys.readouterr().out.splitlines()]
    assert high > low + 0.5, (high, low)
    assert cli.main(["evaluate", f"ckpt={run}"]) == 0
    assert f"pearson {metrics['pearson']:.4f}" in capsys.readouterr().out


def test_regression_refuses_labels_that_are_not_numbers(tmp_path, capsys):
    (tmp_path / "words.tsv").write_text("text\tlabel\n" + "".join(f"film {i}\t{'pos' if i % 2 else 'neg'}\n"
                                                                  for i in range(30)))
    code = cli.main(["train", f"run_dir={tmp_path / 'r'}", *TINY, "model=bert_tiny", "head=sequence_classification",
                     "objective=sequence_regression", "tokenizer=byte", "data=csv",
                     f"data.path={tmp_path / 'words.tsv'}"])
    assert code == 2 and "which is not a number" in capsys.readouterr().err


def test_multi_label_classification_trains_evaluates_and_predicts_label_sets(tmp_path, capsys):
    """Each of three labels applies when its keyword is in the text (any number of them, or none), read from a
    TSV whose label column is separated by '|': BCE training, multi-label metrics (chance micro F1 is about 0.57,
    saying every label), predict giving the label set over the threshold."""
    import random

    rng = random.Random(0)
    keyword = {"politics": "vote", "sports": "goal", "tech": "chip"}
    rows = ["text\ttopics"]
    for _ in range(400):
        names = [n for n in keyword if rng.random() < 0.4]
        words = [keyword[n] for n in names] + rng.choices(["film", "news", "today", "the", "big"], k=5 - len(names))
        rng.shuffle(words)
        rows.append(f"{' '.join(words)}\t{'|'.join(names)}")
    (tmp_path / "topics.tsv").write_text("\n".join(rows) + "\n")
    run = train(tmp_path / "ml", "model=bert_tiny", "head=sequence_classification",
                "objective=multi_label_classification", "tokenizer=byte", "tokenizer.template=cls_sep", "data=csv",
                f"data.path={tmp_path / 'topics.tsv'}", "data.label_field=topics", "data.label_separator=|",
                "trainer.max_epochs=10", "optim.lr=1e-3", "head.pooling=mean")
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    assert set(metrics) == {"loss", "micro_f1", "macro_f1", "subset_accuracy"}
    assert metrics["micro_f1"] > 0.9 and metrics["subset_accuracy"] > 0.7, metrics
    best = (run / "checkpoints" / "best" / "config.yaml").read_text()
    assert "labels:\n- politics\n- sports\n- tech\n" in best  # sorted, recorded for predict and evaluate
    capsys.readouterr()
    (tmp_path / "new.txt").write_text("goal vote film news today\nbig film news today the\nnews chip film the big\n")
    assert cli.main(["predict", f"ckpt={run}", f"input={tmp_path / 'new.txt'}"]) == 0
    both, none, tech = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(both["labels"]) == ["politics", "sports"] and none["labels"] == [] and tech["labels"] == ["tech"], \
        (both, none, tech)
    assert set(both["scores"]) == {"politics", "sports", "tech"} and both["scores"]["tech"] < 0.5
    assert cli.main(["predict", f"ckpt={run}", f"input={tmp_path / 'new.txt'}", "threshold=0.0"]) == 0
    assert all(len(json.loads(line)["labels"]) == 3 for line in capsys.readouterr().out.splitlines())
    assert cli.main(["evaluate", f"ckpt={run}"]) == 0
    assert f"micro_f1 {metrics['micro_f1']:.4f}" in capsys.readouterr().out


def test_max_time_alone_ends_the_run_and_needs_a_schedule_without_a_total(tmp_path, capsys):
    quick = [*TINY, *SMALL, "trainer.max_time=00:00:00:03", "trainer.limit_val_batches=1"]
    assert cli.main(["train", f"run_dir={tmp_path / 'decay'}", *quick, "optim.scheduler=linear"]) == 2
    assert "needs the number of training steps" in capsys.readouterr().err
    assert not (tmp_path / "decay").exists()
    # 10 s leaves room for more than one epoch of one step even on a loaded machine
    run = train(tmp_path / "constant", *SMALL, "trainer.max_time=00:00:00:10", "trainer.limit_val_batches=1",
                "trainer.limit_train_batches=1", "optim.scheduler=constant", "optim.warmup_ratio=0")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] > 1  # epochs of 1 step: not stopped after the first, max_time decided


def test_evaluating_a_masked_lm_twice_gives_the_same_numbers(tmp_path, capsys):
    """Masked LM evaluation draws its masks: evaluate seeds them, as the run's test did."""
    run = train(tmp_path / "mlm", *SMALL, "model=bert_tiny", "head=bert_mlm", "objective=masked_lm",
                "tokenizer.template=cls_sep", "trainer.max_steps=4")
    capsys.readouterr()
    outputs = []
    for _ in range(2):
        assert cli.main(["evaluate", f"ckpt={run}"]) == 0
        outputs.append(capsys.readouterr().out)
    assert "test loss" in outputs[0] and outputs[0] == outputs[1]


def test_evaluate_reads_data_overrides_as_train_does(tmp_path, capsys):
    rows = ["text\tclass"] + [f"{'win cash now' if i % 2 else 'see you at lunch'} {i}\t{i % 2}" for i in range(60)]
    (tmp_path / "sms.tsv").write_text("\n".join(rows) + "\n")
    data = ["data=csv", f"data.path={tmp_path / 'sms.tsv'}", "data.label_field=class", "data.label_map={1:spam,0:ham}"]
    run = train(tmp_path / "sms", "model=bert_tiny", "head=sequence_classification",
                "objective=sequence_classification", "tokenizer=byte", "trainer.max_steps=3", *data)
    capsys.readouterr()
    assert cli.main(["evaluate", f"ckpt={run}", "data.label_map={1:spam,0:ham}", "split=validation",
                     "limit_batches=1"]) == 0
    assert "validation accuracy" in capsys.readouterr().out


def test_config_checks_the_pairing_against_the_init_from_checkpoint(tmp_path, capsys):
    run = train(tmp_path / "bert", *SMALL, "model=bert_tiny", "head=bert_mlm", "objective=masked_lm",
                "tokenizer.template=cls_sep", "trainer.max_steps=2")
    capsys.readouterr()
    assert cli.main(["config", f"init_from={run}"]) == 2  # the default causal_lm on a BERT: train refuses it too
    assert "objective 'causal_lm' does not work with architecture 'bert'" in capsys.readouterr().err
