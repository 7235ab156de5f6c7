"""Inference: generation, scoring and n-best rescoring, predictions (see docs/inference.md)."""
