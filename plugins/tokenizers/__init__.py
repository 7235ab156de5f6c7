"""First-party tokenizers: byte, sentencepiece (trained or loaded) and Hugging Face `tokenizers` files."""
from framework.hookspecs import hookimpl


@hookimpl
def nlpf_register(registries):
    from plugins.tokenizers.config import ByteConfig, HfTokenizerConfig, SentencePieceConfig

    registries.tokenizer.register("byte", ByteConfig, "plugins.tokenizers.byte:build",
                                  description="UTF-8 bytes plus special tokens; no training.")
    registries.tokenizer.register("sentencepiece", SentencePieceConfig, "plugins.tokenizers.sentencepiece:build",
                                  description="sentencepiece unigram/BPE, trained on the corpus or loaded from a .model.")
    registries.tokenizer.register("hf", HfTokenizerConfig, "plugins.tokenizers.hf:build",
                                  description="A Hugging Face tokenizer.json or WordPiece vocab.txt (tokenizers library).")
