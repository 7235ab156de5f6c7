"""What `nlpf train` says about the precision before it builds anything."""
import pytest
from omegaconf import OmegaConf

from framework.errors import ConfigError
from framework.training import commands


def _cfg(precision, accelerator="cpu"):
    return OmegaConf.create({"trainer": {"precision": precision, "accelerator": accelerator}})


def _flags(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    return str(path)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    assert commands.cpu_flags(_flags(tmp_path, "fpu avx512_bf16 amx_bf16")) == {"fpu", "avx512_bf16", "amx_bf16"}
    assert commands.cpu_flags(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("flags, precision, noted", [
    ("avx512f avx512_bf16", "bf16-mixed", True),  # bf16 without AMX: slower than float32
    ("avx512f avx512_bf16 amx_tile amx_bf16", "bf16-mixed", False),
    ("avx512f avx512_bf16", "32", False),
])
def test_bf16_on_a_cpu_without_amx_gets_a_note(tmp_path, monkeypatch, capsys, flags, precision, noted):
    path, read = _flags(tmp_path, flags), commands.cpu_flags
    monkeypatch.setattr(commands, "cpu_flags", lambda: read(path))
    commands._check_precision(_cfg(precision))
    err = capsys.readouterr().err
    assert ("without AMX" in err) is noted
    if noted:
        assert "trainer.precision=32" in err


def test_float16_on_the_cpu_is_refused():
    with pytest.raises(ConfigError, match="16-mixed needs a GPU"):
        commands._check_precision(_cfg("16-mixed"))
