"""Tokenizers: the base class and building, training, saving and loading by config (torch-free)."""
from framework.tokenizers.base import Encoding, Tokenizer, check_vocab_fits
from framework.tokenizers.build import build_tokenizer, load_tokenizer, save_tokenizer

__all__ = ["Encoding", "Tokenizer", "build_tokenizer", "check_vocab_fits", "load_tokenizer", "save_tokenizer"]
