"""The DataSource base: a source written from the docs (only `read()`) still notices edited data files."""
from omegaconf import OmegaConf

from framework.data.source import DataSource


class TsvSource(DataSource):  # what a plugin author writes: read() and nothing else
    def read(self):
        rows = [line.split("\t") for line in open(self.cfg.path, encoding="utf-8").read().splitlines()]
        return {"all": [{"text": t, "label": y} for t, y in rows]}


def _source(path, **extra):
    return TsvSource(OmegaConf.create({"name": "tsv", "path": str(path), "split_seed": 0, **extra}))


def test_editing_the_file_a_path_key_names_changes_the_fingerprint(tmp_path):
    data = tmp_path / "data.tsv"
    data.write_text("good\tpos\nbad\tneg\n")
    before = _source(data).fingerprint()
    assert _source(data).fingerprint() == before  # stable while nothing changes
    data.write_text("good\tgood\nbad\tneg\n")
    assert _source(data).fingerprint() != before


def test_files_under_a_directory_or_glob_key_count_too(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("one\n")
    first = [_source(tmp_path / "x", extra_dir=str(tmp_path / "d")).fingerprint(),
             _source(tmp_path / "x", test_path=str(tmp_path / "d" / "*.txt")).fingerprint()]
    (tmp_path / "d" / "b.txt").write_text("two\n")
    second = [_source(tmp_path / "x", extra_dir=str(tmp_path / "d")).fingerprint(),
              _source(tmp_path / "x", test_path=str(tmp_path / "d" / "*.txt")).fingerprint()]
    assert first[0] != second[0] and first[1] != second[1]


def test_other_keys_and_missing_files_do_not_break_the_fingerprint(tmp_path):
    src = _source(tmp_path / "not_there.tsv", lowercase=True, label_path=None)
    assert len(src.fingerprint()) == 64
