"""`nlpf plugin new`: the generated package installs with pip, shows up in `nlpf list`, and its own tests pass.

The package is pip-installed into a private --target directory that only the subprocesses see, so the
shared environment (and other tests running at the same time) never sees it.
"""
import dataclasses
import os
import subprocess
import sys

import pytest

import framework
from framework import cli, plugins, scaffold
from framework.errors import NlpfError


def pip_install_target(package, target) -> None:
    """A real `pip install` of `package` into the directory `target` (only processes that put it on their path
    see it). Reuses the environment's setuptools when it can build wheels, else lets pip fetch one."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
            "--target", str(target), str(package)]
    out = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True)
    if out.returncode != 0:  # e.g. no `wheel` next to an old setuptools in a fresh venv
        out = subprocess.run(base, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_generates_a_complete_package(tmp_path):
    assert cli.main(["plugin", "new", "nlpf-widget", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "nlpf-widget"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert files == {
        "pyproject.toml", "README.md", "tests/test_nlpf_widget.py",
        "nlpf_widget/__init__.py", "nlpf_widget/config.py", "nlpf_widget/model.py",
        "nlpf_widget/conf/model/widget_tiny.yaml", "nlpf_widget/conf/experiment/widget_demo.yaml",
    }
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."nlpf.plugins"]\nwidget = "nlpf_widget"' in pyproject
    major, minor = framework.__version__.split(".")[:2]  # the plugin API may change with nlpf's minor version
    assert f'dependencies = ["nlpf>={major}.{minor},<{major}.{int(minor) + 1}"]' in pyproject
    init = (root / "nlpf_widget" / "__init__.py").read_text()
    assert "NLPF_API_VERSION = 1" in init and "import torch" not in init
    for path in root.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize(
    "name, expected",
    [("1widget", "invalid plugin name '1widget'"), ("my widget", "invalid plugin name"),
     ("class", "Python keyword"), ("framework", "already importable"), ("nlpf", "replace nlpf itself"),
     ("nlpf-gpt", "a plugin named 'gpt' is already installed (from nlpf)")],
)
def test_rejects_bad_names(name, expected, tmp_path):
    with pytest.raises(NlpfError) as err:
        scaffold.generate(name, tmp_path)
    assert expected in err.value.message and err.value.hint


def test_rejects_a_name_an_installed_architecture_has(tmp_path):
    @dataclasses.dataclass
    class Config:
        width: int = 1

    plugins.state().registries.architecture.register("sprocket", Config, "json:loads", kind="encoder")
    with pytest.raises(NlpfError) as err:
        scaffold.generate("nlpf-sprocket", tmp_path)
    assert "an architecture named 'sprocket' is already registered" in err.value.message


def test_refuses_to_overwrite_and_reports_usage_errors(tmp_path, capsys):
    (tmp_path / "nlpf-widget").mkdir()
    assert cli.main(["plugin", "new", "nlpf-widget", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["plugin", "neww", "x"]) == 2
    assert "Did you mean 'new'" in capsys.readouterr().err
    assert cli.main(["plugin", "new"]) == 2
    assert "missing plugin NAME" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert cli.main(["plugin", "new", "nlpf-gadget", "--dir", str(tmp_path / "notes.txt")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


@pytest.mark.slow
def test_generated_package_installs_lists_and_passes_its_own_tests(tmp_path):
    scaffold.generate("nlpf-scaffoldcheck", tmp_path)
    root, site = tmp_path / "nlpf-scaffoldcheck", tmp_path / "site"
    pip_install_target(root, site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    listed = subprocess.run([sys.executable, "-m", "framework.cli", "list", "architecture"],
                            capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "scaffoldcheck [decoder]  from nlpf-scaffoldcheck 0.1.0" in listed.stdout

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=root, capture_output=True, text=True, env=env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
