"""Packaging hook: the wheel ships the top-level `conf/` tree inside the `framework` package (framework/conf),
where `framework.config.conf_dir` looks when nlpf is installed rather than run from a checkout. All other
metadata lives in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConf(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent / "conf"
        shutil.copytree(source, Path(self.build_lib) / "framework" / "conf", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConf})
