"""Plugin discovery through real entry points: the demo package is pip-installed by the test setup;
the broken ones are real dist-info directories put on sys.path."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from framework import hookspecs, plugins
from framework.errors import RegistryError


def _has_demo_plugin() -> bool:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("nlpf-demo-plugin")
        return True
    except PackageNotFoundError:
        return False


needs_demo = pytest.mark.skipif(not _has_demo_plugin(), reason="pip install -e tests/fixtures/nlpf-demo-plugin")


def make_dist(root: Path, dist: str, module: str, source: str, version: str = "1.0") -> Path:
    """A minimal installed distribution: module file plus dist-info with an nlpf.plugins entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[nlpf.plugins]\n{module} = {module}\n")
    return root


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@needs_demo
def test_installed_third_party_plugin_is_discovered_with_its_origin():
    state = plugins.load_plugins()
    info = {p.name: p for p in state.plugins}["demo"]
    assert info.status == "ok" and info.distribution == "nlpf-demo-plugin" and info.version == "0.3.1"
    entry = state.registries.architecture.get("bag_of_embeddings")
    assert entry.origin.distribution == "nlpf-demo-plugin" and entry.kind == "encoder"
    assert any(d.endswith("conf") for d in info.config_dirs)


def test_first_party_plugins_come_through_entry_points():
    state = plugins.load_plugins()
    first_party = [p for p in state.plugins if p.distribution == "nlpf"]
    assert {p.name for p in first_party} >= {"bert", "gpt", "t5", "tokenizers", "data", "objectives", "heads"}
    assert all(p.status == "ok" for p in first_party), [(p.name, p.error) for p in first_party if p.error]


def test_a_plugin_that_fails_to_import_is_isolated(on_path):
    make_dist(on_path, "nlpf-broken", "nlpf_broken", "raise ImportError('needs torchtext')\n")
    state = plugins.load_plugins()
    broken = {p.name: p for p in state.plugins}["nlpf_broken"]
    assert broken.status == "failed" and "torchtext" in broken.error
    assert any(p.status == "ok" for p in state.plugins)
    with pytest.raises(RegistryError) as err:
        state.registries.architecture.get("whatever_it_had")
    assert "nlpf_broken" in err.value.hint and "torchtext" in err.value.hint


def test_a_plugin_that_fails_while_registering_leaves_nothing_behind(on_path):
    make_dist(
        on_path,
        "nlpf-halfway",
        "nlpf_halfway",
        """
        from dataclasses import dataclass
        from framework.hookspecs import hookimpl

        @dataclass
        class C:
            x: int = 1

        @hookimpl
        def nlpf_register(registries):
            registries.head.register("halfway_head", C, "json:dumps")
            raise RuntimeError("boom")
        """,
    )
    state = plugins.load_plugins()
    assert {p.name: p for p in state.plugins}["nlpf_halfway"].status == "failed"
    assert "halfway_head" not in state.registries.head


def test_incompatible_api_version_is_reported(on_path):
    make_dist(
        on_path,
        "nlpf-future",
        "nlpf_future",
        f"""
        from framework.hookspecs import hookimpl

        @hookimpl
        def nlpf_api_version():
            return {hookspecs.API_VERSION + 1}
        """,
    )
    state = plugins.load_plugins()
    info = {p.name: p for p in state.plugins}["nlpf_future"]
    assert info.status == "incompatible" and f"API {hookspecs.API_VERSION + 1}" in info.error


def test_conflicting_names_from_two_distributions_fail_the_second(on_path):
    body = """
        from dataclasses import dataclass
        from framework.hookspecs import hookimpl

        @dataclass
        class C:
            x: int = 1

        @hookimpl
        def nlpf_register(registries):
            registries.objective.register("clash", C, "json:dumps", accepts=("encoder",))
        """
    make_dist(on_path, "nlpf-one", "nlpf_one", body)
    make_dist(on_path, "nlpf-two", "nlpf_two", body)
    state = plugins.load_plugins()
    infos = {p.name: p for p in state.plugins}
    assert infos["nlpf_one"].status == "ok"
    assert infos["nlpf_two"].status == "failed" and "nlpf-one" in infos["nlpf_two"].error


def test_nlpf_plugins_cli_shows_broken_plugin_and_first_party_version(tmp_path):
    make_dist(tmp_path, "nlpf-broken", "nlpf_broken", "raise ImportError('needs torchtext')\n")
    out = subprocess.run(
        [sys.executable, "-m", "framework.cli", "plugins"],
        capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )
    assert out.returncode == 0
    assert "nlpf_broken" in out.stdout and "failed" in out.stdout and "torchtext" in out.stdout
    from importlib.metadata import version

    assert f"nlpf {version('nlpf')}" in out.stdout


def test_a_third_party_clash_with_a_built_in_name_fails_the_newcomer(on_path):
    # 'a_' sorts before every built-in entry point: load order must not let it knock out nlpf's own heads
    make_dist(on_path, "nlpf-early", "a_early", """
        from dataclasses import dataclass
        from framework.hookspecs import hookimpl

        @dataclass
        class C:
            x: int = 1

        @hookimpl
        def nlpf_register(registries):
            registries.head.register("lm", C, "json:dumps", accepts=["decoder"])
        """)
    state = plugins.load_plugins()
    infos = {p.name: p for p in state.plugins}
    assert infos["heads"].status == "ok"
    assert infos["a_early"].status == "failed" and "head 'lm' is registered twice" in infos["a_early"].error
    assert state.registries.head.get("lm").origin.distribution == "nlpf"


@pytest.mark.parametrize("source, message", [
    ("@hookimpl\ndef nlpf_registers(registries):\n    pass\n", "'nlpf_registers' is not an nlpf hook. Did you mean 'nlpf_register'?"),
    ("def nlpf_regster(registries):\n    pass\n", "Did you mean 'nlpf_register'?"),
    ("@hookimpl\ndef nlpf_register(registry):\n    pass\n", "{'registry'} are declared in the hookimpl but can not be found"),
    ("@hookimpl\ndef nlpf_api_version():\n    return '1'\n", "nlpf_api_version() must return an int such as 1, got '1'"),
    ("@hookimpl\ndef nlpf_config_dirs():\n    return '/tmp/conf'\n", "must return a list of directory paths, got '/tmp/conf'"),
    ("from dataclasses import dataclass\n@dataclass\nclass C:\n    x: int = 1\n@hookimpl\ndef nlpf_register(registries):\n"
     "    registries.head.register('h', C, 'json:dumps', accepts='encoder')\n", "such as ['encoder'], not the string"),
])
def test_plugin_mistakes_fail_the_plugin_with_what_is_wrong(on_path, source, message):
    module = f"nlpf_oops_{abs(hash(source))}"  # a fresh module per case: imports are cached
    make_dist(on_path, "nlpf-oops", module, "from framework.hookspecs import hookimpl\n" + source)
    info = {p.name: p for p in plugins.load_plugins().plugins}[module]
    assert info.status == "failed" and message in info.error, info.error
    assert info.config_dirs == []


def test_a_helper_function_named_nlpf_something_is_not_taken_for_a_hook(on_path):
    make_dist(on_path, "nlpf-helper", "nlpf_helper", "def nlpf_lstm_helper():\n    return 1\n")
    assert {p.name: p for p in plugins.load_plugins().plugins}["nlpf_helper"].status == "ok"
