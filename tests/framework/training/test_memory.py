"""trainer.keep_freed_memory: a big tensor made again after it was freed reuses the heap (no page faults)."""
import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from framework.training.memory import keep_freed_memory
    assert keep_freed_memory()
def faults_of_a_fresh_40mb_tensor():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.zeros(10 * 1024 * 1024)  # 40 MB, above the 32 MB glibc serves with mmap (and unmaps when freed)
    del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(max(faults_of_a_fresh_40mb_tensor() for _ in range(8)), min(faults_of_a_fresh_40mb_tensor() for _ in range(4)))
"""


def _faults(mode: str) -> tuple[int, int]:
    """(most page faults of the first 8 tensors, fewest of the next 4)."""
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    most, fewest = out.stdout.split()
    return int(most), int(fewest)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_freed_memory_is_reused_without_page_faults():
    pages = 40 * 1024 * 1024 // 4096
    assert _faults("default")[1] > pages // 2  # every new tensor is page-faulted in again
    most, fewest = _faults("keep")
    assert most > pages // 2 and fewest < pages // 20  # the heap grows at first, then its blocks are reused
