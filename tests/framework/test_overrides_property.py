"""Property-based tests of override parsing: values round-trip, unknown keys are always named."""
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework import cli, config
from framework.errors import ConfigError
from framework.schema import RunConfig

import dataclasses
import pytest

KNOWN_TOP = {f.name for f in dataclasses.fields(RunConfig)}
identifiers = st.text(string.ascii_lowercase + "_", min_size=3, max_size=12).filter(
    lambda s: s not in KNOWN_TOP and not s.startswith("_") and s not in ("hydra", "experiment")
)
fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(seed=st.integers(0, 2**31 - 1), lr=st.floats(1e-8, 10, allow_nan=False), epochs=st.integers(1, 1000))
def test_typed_values_round_trip(seed, lr, epochs):
    cfg = config.compose([f"seed={seed}", f"optim.lr={lr!r}", f"trainer.max_epochs={epochs}"])
    assert cfg.seed == seed and cfg.trainer.max_epochs == epochs
    assert cfg.optim.lr == pytest.approx(lr)


@fast
@given(key=identifiers)
def test_unknown_top_level_keys_are_named(key):
    with pytest.raises(ConfigError) as err:
        config.compose([f"{key}=1"])
    assert f"'{key}'" in str(err.value)


@fast
@given(values=st.lists(st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True), min_size=1, max_size=3))
def test_sweeps_expand_to_the_cartesian_product(values):
    keys = ["seed", "batch_size", "max_length"][: len(values)]
    overrides = [f"{k}={','.join(map(str, v))}" for k, v in zip(keys, values)]
    jobs = cli.expand_sweeps(overrides)
    expected = 1
    for v in values:
        expected *= len(v)
    assert len(jobs) == expected
    assert len({tuple(j) for j in jobs}) == expected
