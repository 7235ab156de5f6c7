"""SIGTERM during `nlpf predict | generate | score | embed ... output=FILE` removes the hidden temporary file, as
Ctrl-C does, and exits 143 with a message; before, the default action killed the process and left the temporary
file (tens of MB) beside the output."""
import os
import signal
import subprocess
import sys
import time

import pytest

from framework.atomic import Terminated, sigterm_raises
from framework.inference.commands import output_stream


def test_sigterm_inside_the_block_raises_terminated_and_the_handler_is_restored():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated):
        with sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs before this ends
            pytest.fail("SIGTERM did not interrupt")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert Terminated.exit_code == 143


def test_another_handler_is_left_alone():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *a: seen.append(a))
    try:
        with sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
        assert len(seen) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_sigterm_while_an_output_is_written_leaves_no_file(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(Terminated):
        with sigterm_raises(), output_stream(str(target)) as out:
            out.write("{}\n" * 1000)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict:
    from framework.checkpoint import save_checkpoint
    from tests.framework.inference.conftest import GPT, make

    root = tmp_path_factory.mktemp("ck")
    pipes = {"clf": make(["model=bert_tiny", "tokenizer=byte", "head=sequence_classification",
                          "objective=sequence_classification"], labels=["neg", "pos"]), "gpt": make(GPT)}
    for name, pipe in pipes.items():
        save_checkpoint(root / name, pipe.model, pipe.config, pipe.tokenizer)
    return {name: root / name for name in pipes}


@pytest.mark.parametrize("command, ckpt, extra", [
    ("predict", "clf", ["chunk_size=64"]), ("embed", "clf", ["chunk_size=64"]), ("score", "gpt", []),
    ("generate", "gpt", ["max_new_tokens=4"]),
])
def test_sigterm_removes_the_temporary_output_and_keeps_the_previous_one(command, ckpt, extra, ckpts, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("a sentence that takes a moment to read\n" * 100_000)
    out = tmp_path / "out.jsonl"
    out.write_text("the previous output\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "framework.cli", command, f"ckpt={ckpts[ckpt]}", f"input={data}",
                             f"output={out}", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 180
    while not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]:  # results are being written
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.time() < deadline, "no temporary output file after 180 s"
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    printed, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, printed[-3000:]
    assert f"terminated (SIGTERM); nothing was written to {out}" in printed and "Traceback" not in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]
    assert out.read_text() == "the previous output\n"
