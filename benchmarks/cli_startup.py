"""Wall time of `nlpf --help` and `nlpf list` (fresh processes, median of several runs; target < 0.5 s).

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --repeats 10

Also reports a bare `python -c pass` for scale, and checks that neither command imports torch.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "nlpf --help": ["nlpf", "--help"],
    "nlpf list": ["nlpf", "list"],
}
TORCH_CHECK = ("import sys, runpy; sys.argv = ['nlpf'] + sys.argv[1:]\n"
               "try:\n    from framework.cli import main; main()\nexcept SystemExit: pass\n"
               "print('TORCH_LOADED' if 'torch' in sys.modules else 'NO_TORCH', file=sys.stderr)")


def command(argv: list[str]) -> list[str]:
    if argv[0] != "nlpf":
        return argv
    exe = shutil.which("nlpf") or str(Path(sys.executable).parent / "nlpf")
    return [exe, *argv[1:]]


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    argvs = {name: command(argv) for name, argv in COMMANDS.items()}
    for argv in argvs.values():  # warm the file cache and .pyc files
        timed(argv)
    times = {name: [] for name in argvs}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
        for name, argv in argvs.items():
            times[name].append(timed(argv))
    print("| command | median s | min s | imports torch | target |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        torch_loaded = "-"
        if name.startswith("nlpf"):
            out = subprocess.run([sys.executable, "-c", TORCH_CHECK, *name.split()[1:]], capture_output=True, text=True)
            torch_loaded = "yes" if "TORCH_LOADED" in out.stderr else "no"
        target = "< 0.5 s: " + ("met" if statistics.median(values) < 0.5 else "NOT met") if name.startswith("nlpf") else ""
        print(f"| `{name}` | {statistics.median(values):.3f} | {min(values):.3f} | {torch_loaded} | {target} |")


if __name__ == "__main__":
    main()
