"""A plugin written for another nlpf plugin API is reported clearly (by `nlpf plugins`, `nlpf list` and when
its config groups are asked for) instead of failing deep inside a run. The plugins are real packages made by
`nlpf plugin new` and pip-installed into a private --target directory that only subprocesses see."""
import os
import subprocess
import sys

import pytest

from framework import hookspecs, scaffold


def pip_install_target(package, target) -> None:
    """A real `pip install` of `package` into the directory `target` (only processes that put it on their path
    see it). Reuses the environment's setuptools when it can build wheels, else lets pip fetch one."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
            "--target", str(target), str(package)]
    out = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True)
    if out.returncode != 0:  # e.g. no `wheel` next to an old setuptools in a fresh venv
        out = subprocess.run(base, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def _install(tmp_path, name: str, api_line: str | None, extra_files: dict | None = None) -> dict:
    root, values = scaffold.generate(name, tmp_path)
    for rel, text in (extra_files or {}).items():
        (root / values["module"] / rel).write_text(text)
    init = root / values["module"] / "__init__.py"
    text = init.read_text()
    if api_line is None:  # an old-style plugin that does not declare its API version
        text = text.replace("@hookimpl\ndef nlpf_api_version():\n    return NLPF_API_VERSION\n", "")
    else:
        text = text.replace(f"NLPF_API_VERSION = {hookspecs.API_VERSION}", api_line)
    init.write_text(text)
    site = tmp_path / "site"
    pip_install_target(root, site)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def nlpf(env, *args):
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_plugin_for_a_newer_api_is_reported_everywhere_it_matters(tmp_path):
    env = _install(tmp_path, "nlpf-future", f"NLPF_API_VERSION = {hookspecs.API_VERSION + 1}")

    plugins = nlpf(env, "plugins")
    assert plugins.returncode == 0
    line = next(ln for ln in plugins.stdout.splitlines() if ln.startswith("future "))
    assert "nlpf-future 0.1.0  incompatible  api 2" in line
    assert f"written for nlpf plugin API {hookspecs.API_VERSION + 1}, this nlpf provides API " \
           f"{hookspecs.API_VERSION}; upgrade nlpf" in plugins.stdout

    listed = nlpf(env, "list", "architecture")
    assert listed.returncode == 0 and "future [decoder]" not in listed.stdout
    assert "warning: plugin 'future' (nlpf-future) incompatible" in listed.stderr

    train = nlpf(env, "train", "model=future_tiny")
    assert train.returncode == 2 and "Traceback" not in train.stderr
    assert "unknown option 'future_tiny' for config group 'model'" in train.stderr
    assert "future (nlpf-future 0.1.0) incompatible" in train.stderr


@pytest.mark.slow
def test_plugin_for_an_older_api_is_told_to_upgrade_and_an_undeclared_one_still_loads(tmp_path):
    env = _install(tmp_path, "nlpf-past", "NLPF_API_VERSION = 0")
    out = nlpf(env, "plugins").stdout
    assert "nlpf-past 0.1.0  incompatible  api 0" in out and "upgrade nlpf-past to a release made for API" in out

    env = _install(tmp_path / "undeclared", "nlpf-undeclared", None)
    out = nlpf(env, "plugins").stdout
    assert "nlpf-undeclared 0.1.0  ok  api undeclared" in out


@pytest.mark.slow
def test_a_plugin_config_option_hidden_by_a_built_in_one_is_reported(tmp_path):
    env = _install(tmp_path, "nlpf-shadow", "NLPF_API_VERSION = 1",
                   {"conf/model/gpt_tiny.yaml": "name: shadow\nvocab_size: 10\n"})
    out = nlpf(env, "plugins")
    assert out.returncode == 0
    assert "plugin 'shadow': config option model/gpt_tiny is shadowed by nlpf's conf/" in out.stderr
    assert "shadow_tiny" not in out.stderr  # its other options are fine
