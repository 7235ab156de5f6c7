"""Loss weights and label counts: one weight per label, a head as wide as the labels, each label named once."""
import pytest

from framework import cli, config
from framework.errors import ConfigError


@pytest.mark.parametrize("weights, problem", [
    ("[a,b]", "'a' is not a weight >= 0"), ("[-1,2]", "-1 is not a weight >= 0"),
    ("[]", "expected a non-empty list of weights")])
def test_class_weights_are_numbers_at_least_zero(weights, problem):
    with pytest.raises(ConfigError) as err:
        config.load(["model=bert_tiny", "head=sequence_classification", "objective=sequence_classification",
                     f"objective.class_weights={weights}"])
    assert problem in err.value.message and "objective.class_weights" in err.value.message


def test_labels_are_named_once_and_experiment_names_are_folders():
    with pytest.raises(ConfigError, match="'pos' is listed twice"):
        config.load(["labels=[pos,neg,pos]"])
    for name in ("../../escape", ""):
        with pytest.raises(ConfigError, match="must be a plain folder name"):
            config.load([f"experiment_name={name}"])


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f"{'good' if i % 2 else 'bad'} film {i},{'pos' if i % 2 else 'neg'}\n"
                                             for i in range(24)))
    return path


@pytest.mark.parametrize("override, message", [
    ("objective.class_weights=[1,2,3]", "objective.class_weights has 3 weights, but there are 2 labels (neg, pos)"),
    ("head.num_labels=3", "head.num_labels=3, but the data has 2 labels (neg, pos)"),
    ("head.num_labels=1", "head.num_labels=1, but the data has 2 labels (neg, pos)")])
def test_per_label_settings_must_match_the_labels_before_training(tmp_path, reviews, capsys, override, message):
    from tests.framework.training.test_train_e2e import TINY

    run = tmp_path / "run"
    assert cli.main(["train", f"run_dir={run}", *TINY, "model=bert_tiny", "tokenizer=byte", "head=sequence_classification",
                     "objective=sequence_classification", "data=csv", f"data.path={reviews}", override]) == 2
    assert message in capsys.readouterr().err
    assert not run.exists()  # refused before the run started
