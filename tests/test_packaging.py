"""What an installed nlpf (a wheel, not this checkout) needs at run time, and what it says when an optional
package is missing."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_build_ships_the_config_tree_inside_framework(tmp_path):
    """conf_dir() looks for framework/conf when there is no checkout around the package."""
    subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True)
    shipped = tmp_path / "framework" / "conf"
    expected = sorted(p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml"))
    assert expected and sorted(p.relative_to(shipped) for p in shipped.rglob("*.yaml")) == expected


def test_a_missing_tensorboard_is_a_config_error_naming_the_extra(monkeypatch):
    import importlib.util

    from framework.config import load
    from framework.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tensorboard", "tensorboardX") else real(name, *a))
    with pytest.raises(ConfigError, match="needs the tensorboard package") as err:
        load(["trainer.loggers=[csv,tensorboard]"])
    assert "pip install 'nlpf[tensorboard]'" in err.value.hint
    assert load(["trainer.loggers=[csv]"]).trainer.loggers == ["csv"]


def test_report_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    from framework.errors import NlpfError
    from framework.training.report import render

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(NlpfError, match="matplotlib, which is not installed") as err:
        render(tmp_path, tmp_path / "report.png")
    assert "pip install 'nlpf[report]'" in err.value.hint and not (tmp_path / "report.png").exists()
