"""Hugging Face checkpoint import and export (BERT, GPT-2, T5)."""
from framework.hf.convert import export_hf, import_hf

__all__ = ["import_hf", "export_hf"]
