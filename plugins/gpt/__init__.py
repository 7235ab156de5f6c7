"""GPT-2: a causal pre-norm decoder with learned positions."""
from framework.hookspecs import hookimpl
from plugins.gpt.config import GPTConfig


@hookimpl
def nlpf_register(registries):
    registries.architecture.register(
        "gpt", GPTConfig, "plugins.gpt.model:build", kind="decoder",
        description="GPT-2 decoder (pre-norm, causal, learned positions; pair with the tied `lm` head).",
    )
