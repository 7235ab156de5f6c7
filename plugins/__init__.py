"""First-party nlpf plugins. Each subpackage is one plugin, declared in pyproject.toml under the
`nlpf.plugins` entry-point group exactly as a third-party package would declare it."""
