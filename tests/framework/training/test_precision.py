"""`trainer.precision`: what `auto` becomes on each device, and what `nlpf train` says before it builds anything."""
import pytest
import torch
from omegaconf import OmegaConf

from framework.errors import ConfigError
from framework.training import precision

AVX512 = "fpu avx512f avx512_bf16"
AMX = "fpu avx512f avx512_bf16 amx_tile amx_bf16"


def _trainer(value, accelerator="cpu"):
    return OmegaConf.create({"precision": value, "accelerator": accelerator})


@pytest.fixture
def cpu_with(tmp_path, monkeypatch):
    """Make `cpu_flags()` read a cpuinfo with the given flags."""
    def use(flags):
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
        read = precision.cpu_flags
        monkeypatch.setattr(precision, "cpu_flags", lambda: read(str(path)))
    return use


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_bf16\n")
    assert precision.cpu_flags(str(tmp_path / "cpuinfo")) == {"fpu", "avx512_bf16", "amx_bf16"}
    assert precision.cpu_flags(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("flags, expected", [(AVX512, "32"), (AMX, "bf16-mixed"), ("", "32")])
def test_auto_on_the_cpu_takes_bf16_only_with_amx(cpu_with, flags, expected):
    cpu_with(flags)
    value, why = precision.resolve(_trainer("auto"))
    assert value == expected and "AMX" in why


def test_auto_on_a_gpu_follows_its_bfloat16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for supported, expected in ((True, "bf16-mixed"), (False, "16-mixed")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
        for accelerator in ("gpu", "auto"):
            assert precision.resolve(_trainer("auto", accelerator))[0] == expected


def test_auto_on_a_gpu_that_is_not_there_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU") as err:
        precision.resolve(_trainer("auto", "gpu"))
    assert "trainer=cpu" in err.value.hint


def test_auto_elsewhere_and_explicit_values(cpu_with):
    cpu_with(AMX)
    assert precision.resolve(_trainer("auto", "tpu"))[0] == "bf16-true"
    assert precision.resolve(_trainer("auto", "mps"))[0] == "32"
    assert precision.resolve(_trainer("32"))[0] == "32"  # an explicit choice is kept, AMX or not


@pytest.mark.parametrize("flags, value, noted", [
    (AVX512, "bf16-mixed", True),  # bf16 without AMX: slower than float32
    (AMX, "bf16-mixed", False),
    (AVX512, "32", False),
])
def test_bf16_on_a_cpu_without_amx_gets_a_note(cpu_with, capsys, flags, value, noted):
    cpu_with(flags)
    precision.check(_trainer(value))
    err = capsys.readouterr().err
    assert ("without AMX" in err) is noted
    if noted:
        assert "trainer.precision=32" in err


def test_float16_on_the_cpu_is_refused():
    with pytest.raises(ConfigError, match="16-mixed needs a GPU"):
        precision.check(_trainer("16-mixed"))
