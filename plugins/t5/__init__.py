"""T5: an encoder-decoder with RMSNorm, no biases and a bucketed relative position bias."""
from framework.hookspecs import hookimpl
from plugins.t5.config import T5Config


@hookimpl
def nlpf_register(registries):
    registries.architecture.register(
        "t5", T5Config, "plugins.t5.model:build", kind="encoder-decoder",
        description="T5 encoder-decoder (original relu or v1.1 gated-gelu; pair with `lm` head, tied or untied).",
    )
