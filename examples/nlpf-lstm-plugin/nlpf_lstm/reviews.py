"""A synthetic data set: one-sentence reviews whose sentiment words decide the label. Generated from a
seed, so it needs no download; `text` alone serves language modelling, `text` + `label` classification."""
from __future__ import annotations

import random

from framework.data.source import DataSource

LABELS = ["negative", "positive"]
THINGS = ["film", "book", "phone", "meal", "hotel", "album", "game", "show", "chair", "lamp"]
OPENERS = ["the", "this", "my new", "our", "that"]
GOOD = ["great", "wonderful", "excellent", "lovely", "superb", "delightful"]
BAD = ["awful", "terrible", "boring", "broken", "dreadful", "poor"]
ENDINGS = ["and i would buy it again .", "so i told my friends .", "but the price was high .",
           "as everyone said .", "from start to finish ."]


class ToyReviews(DataSource):
    name = "toy_reviews"
    label_names = LABELS

    def read(self) -> dict[str, list[dict]]:
        rng = random.Random(int(self.cfg.seed))
        examples = []
        for _ in range(int(self.cfg.num_examples)):
            label = rng.randrange(2)
            word = rng.choice(GOOD if label else BAD)
            text = f"{rng.choice(OPENERS)} {rng.choice(THINGS)} was {word} {rng.choice(ENDINGS)}"
            examples.append({"text": text, "label": LABELS[label]})
        return {"all": examples}


def build(cfg) -> ToyReviews:
    """Synthetic sentiment reviews.

    Args:
        cfg.num_examples: how many reviews to generate (before splitting).
        cfg.seed: seed of the generator (same seed, same reviews).
        cfg.split_seed, cfg.validation_ratio, cfg.test_ratio: the seeded train/validation/test split.
        cfg.max_examples: keep at most this many per split (null: all).
    """
    return ToyReviews(cfg)
