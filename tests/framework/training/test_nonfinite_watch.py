"""The NaN guard of training_step records losses without reading them on the host, and stops the run naming
the first bad step when it does look."""
import math

import pytest
import torch

from framework.errors import NlpfError
from framework.training.module import NonFiniteWatch


def test_finite_losses_never_raise():
    watch = NonFiniteWatch()
    watch.raise_if_seen()  # nothing recorded yet
    for step in range(5):
        watch.record(torch.tensor(2.0 - step * 0.1, requires_grad=True), step)
    watch.raise_if_seen()


def test_reports_the_first_non_finite_step_and_value_when_checked_later():
    watch = NonFiniteWatch()
    watch.record(torch.tensor(1.5), 0)
    watch.record(torch.tensor(math.nan), 3)
    watch.record(torch.tensor(math.inf), 5)  # later failures do not overwrite the first
    watch.record(torch.tensor(0.5), 6)
    with pytest.raises(NlpfError, match=r"became nan at step 3") as err:
        watch.raise_if_seen()
    assert "on_nan=skip" in err.value.hint


def test_recording_keeps_the_state_on_the_loss_device_as_tensors():
    watch = NonFiniteWatch()
    watch.record(torch.tensor(math.inf, dtype=torch.bfloat16), 7)
    assert isinstance(watch.step, torch.Tensor) and watch.step.device == torch.device("cpu")
    with pytest.raises(NlpfError, match=r"became inf at step 7"):
        watch.raise_if_seen()
