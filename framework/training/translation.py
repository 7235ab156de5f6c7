"""Translation quality after training: greedy decoding of the test sources, BLEU and chrF, next to the
copy-the-source baseline (what a model that learned nothing but copying would score)."""
from __future__ import annotations

import torch

from framework.metrics import bleu, chrf


def translation_scores(model, tokenizer, cfg, examples: list[dict], limit: int | None = None,
                       batch_size: int = 64, max_new_tokens: int | None = None, **decoding) -> dict[str, float]:
    """decoding: generation options (num_beams, no_repeat_ngram_size, ...); greedy by default."""
    from framework.pipeline import Pipeline

    examples = examples[:limit] if limit else examples
    sources = [ex["source"] for ex in examples]
    targets = [ex["target"] for ex in examples]
    was_training = model.training
    pipe = Pipeline(model, tokenizer, cfg)
    with torch.autocast(device_type=pipe.device.type, dtype=torch.bfloat16,
                        enabled=str(cfg.trainer.precision).startswith("bf16")):
        decoding.setdefault("max_new_tokens", max_new_tokens or int(cfg.max_length))
        outputs = pipe.generate(sources, batch_size=batch_size, **decoding)
    model.train(was_training)
    return {"bleu": bleu(outputs, targets), "chrf": chrf(outputs, targets),
            "copy_bleu": bleu(sources, targets), "copy_chrf": chrf(sources, targets)}
